#!/usr/bin/env bash
# Builds a busybox image from Debian's busybox-static (one layer: the binary, its applet links and
# a minimal /etc) as an OCI layout, and pushes it with skopeo to REGISTRY as library/busybox:latest
# and busybox:latest. Usage: seed-busybox.sh HOST:PORT
set -euo pipefail
registry=${1:?usage: seed-busybox.sh HOST:PORT}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

root="$work/rootfs"
mkdir -p "$root"/{bin,etc,tmp,root,proc,sys,dev,var,home}
cp /bin/busybox "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list); do
  [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
chmod 1777 "$root/tmp"

# Reproducible layer: fixed order, owners and times.
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime='2024-01-01 00:00:00Z' -C "$root" -cf "$work/layer.tar" .
diff_id=sha256:$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
gzip -n -9 <"$work/layer.tar" >"$work/layer.tar.gz"

blobs="$work/oci/blobs/sha256"
mkdir -p "$blobs"
put_blob() { local d; d=$(sha256sum "$1" | cut -d' ' -f1); cp "$1" "$blobs/$d"; echo "$d"; }

layer=$(put_blob "$work/layer.tar.gz")
layer_size=$(stat -c %s "$work/layer.tar.gz")
cat >"$work/config.json" <<JSON
{"architecture":"amd64","os":"linux","created":"2024-01-01T00:00:00Z","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":["$diff_id"]},"history":[{"created":"2024-01-01T00:00:00Z","created_by":"seed-busybox.sh: busybox-static $(dpkg-query -W -f='${Version}' busybox-static 2>/dev/null || echo unknown)"}]}
JSON
config=$(put_blob "$work/config.json")
config_size=$(stat -c %s "$work/config.json")
cat >"$work/manifest.json" <<JSON
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:$config","size":$config_size},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:$layer","size":$layer_size}]}
JSON
manifest=$(put_blob "$work/manifest.json")
manifest_size=$(stat -c %s "$work/manifest.json")
echo '{"imageLayoutVersion":"1.0.0"}' >"$work/oci/oci-layout"
cat >"$work/oci/index.json" <<JSON
{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:$manifest","size":$manifest_size,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}
JSON

for name in library/busybox busybox; do
  skopeo copy --quiet --dest-tls-verify=false "oci:$work/oci:latest" "docker://$registry/$name:latest"
done
echo "seeded $registry/library/busybox:latest (sha256:$manifest)"
