#!/usr/bin/env bash
# bench/pull: `docker pull` of a >= 100 MB multi-layer image from a local docker-registry into ready
# layer VMDKs, against `skopeo copy` of the same image to a dir: in the same run. Prints both
# medians and their ratio. Goal: ratio <= 1.5.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${RUNS:-3}
work=$(mktemp -d /tmp/bench-pull.XXXX)
cleanup() {
  [ -n "${endpoint:-}" ] && kill "$endpoint" 2>/dev/null || true
  [ -n "${registry:-}" ] && kill "$registry" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
reg_port=$(free_port)
cat >"$work/registry.yml" <<YAML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: 127.0.0.1:$reg_port
YAML
docker-registry serve "$work/registry.yml" >/dev/null 2>&1 &
registry=$!
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$reg_port/v2/" >/dev/null && break; sleep 0.1; done

# Four layers of 26 MiB each, mostly incompressible like real binaries, plus many small files.
blobs="$work/oci/blobs/sha256"
mkdir -p "$blobs"
layers_json=""
diff_ids=""
for i in 1 2 3 4; do
  root="$work/layer$i"
  mkdir -p "$root/data$i/small"
  head -c $((24 << 20)) /dev/urandom >"$root/data$i/blob.bin"
  for j in $(seq 1 500); do head -c 4096 /dev/urandom >"$root/data$i/small/f$j"; done
  tar --sort=name --owner=0 --group=0 --numeric-owner -C "$root" -cf "$work/l$i.tar" .
  diff_ids="$diff_ids${diff_ids:+,}\"sha256:$(sha256sum "$work/l$i.tar" | cut -d' ' -f1)\""
  gzip -1 -n <"$work/l$i.tar" >"$work/l$i.tar.gz"
  d=$(sha256sum "$work/l$i.tar.gz" | cut -d' ' -f1)
  mv "$work/l$i.tar.gz" "$blobs/$d"
  layers_json="$layers_json${layers_json:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$d\",\"size\":$(stat -c %s "$blobs/$d")}"
  rm -rf "$root" "$work/l$i.tar"
done
printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":[%s]}}' "$diff_ids" >"$work/config.json"
c=$(sha256sum "$work/config.json" | cut -d' ' -f1); cp "$work/config.json" "$blobs/$c"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' \
  "$c" "$(stat -c %s "$work/config.json")" "$layers_json" >"$work/manifest.json"
m=$(sha256sum "$work/manifest.json" | cut -d' ' -f1); cp "$work/manifest.json" "$blobs/$m"
echo '{"imageLayoutVersion":"1.0.0"}' >"$work/oci/oci-layout"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"big"}}]}' \
  "$m" "$(stat -c %s "$work/manifest.json")" >"$work/oci/index.json"
skopeo copy --quiet --dest-tls-verify=false "oci:$work/oci:big" "docker://127.0.0.1:$reg_port/bench/big:big"
size=$(du -sb "$blobs" | cut -f1)
echo "image: 4 layers, $((size >> 20)) MiB compressed"

ep_port=$(free_port)
dotnet out/vch-endpoint/vch-endpoint.dll -H "tcp://127.0.0.1:$ep_port" --data-dir "$work/vch" >"$work/endpoint.log" 2>&1 &
endpoint=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$ep_port/_ping" >/dev/null && break; sleep 0.1; done

seconds() { local s e; s=$(date +%s.%N); "$@" >/dev/null || { echo "failed: $*" >&2; tail -5 "$work/endpoint.log" >&2; exit 1; }; e=$(date +%s.%N); echo "$e - $s" | bc; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

vic=()
ref=()
for r in $(seq 1 "$runs"); do
  vic+=("$(seconds docker -H "tcp://127.0.0.1:$ep_port" pull "127.0.0.1:$reg_port/bench/big:big")")
  [ "$r" = 1 ] && echo "layer disks after the first pull: $(du -sm "$work/vch/imagestore/layers" | cut -f1) MiB in $(ls "$work/vch/imagestore/layers" | wc -l) layers"
  docker -H "tcp://127.0.0.1:$ep_port" rmi "127.0.0.1:$reg_port/bench/big:big" >/dev/null
  rm -rf "$work/dir"
  ref+=("$(seconds skopeo copy --quiet --src-tls-verify=false "docker://127.0.0.1:$reg_port/bench/big:big" "dir:$work/dir")")
done
vic_median=$(printf '%s\n' "${vic[@]}" | median)
ref_median=$(printf '%s\n' "${ref[@]}" | median)
printf 'docker pull into VMDKs (median of %d): %.2f s\n' "$runs" "$vic_median"
printf 'skopeo copy to dir:     (median of %d): %.2f s\n' "$runs" "$ref_median"
printf 'ratio: %.2f (goal <= 1.5)\n' "$(echo "$vic_median / $ref_median" | bc -l)"
