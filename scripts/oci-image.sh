#!/usr/bin/env bash
# Sourced by the seed scripts: makes a one-image OCI layout from layer tars and pushes it.
#
#   oci_image DIR CONFIG_JSON LAYER.tar...   writes DIR/oci (gzip layers, config with diff_ids)
#   oci_push DIR REGISTRY NAME:TAG...        copies it to each name with skopeo
#
# CONFIG_JSON is the image config's "config" object (Env, Cmd, ...); history names the seed script.

# A busybox root (Debian's busybox-static, its applet links, a minimal /etc) in folder $1.
busybox_rootfs() {
  local root=$1
  mkdir -p "$root"/{bin,etc,tmp,root,proc,sys,dev,var,home}
  cp /bin/busybox "$root/bin/busybox"
  for applet in $("$root/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  chmod 1777 "$root/tmp"
}

# A reproducible layer of folder $1 in tar $2: fixed order, owners and times.
reproducible_layer() {
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime='2024-01-01 00:00:00Z' -C "$1" -cf "$2" .
}

oci_put_blob() { local d; d=$(sha256sum "$1" | cut -d' ' -f1); cp "$1" "$2/$d"; echo "$d"; }

oci_image() {
  local work=$1 config_object=$2
  shift 2
  local blobs="$work/oci/blobs/sha256" diff_ids="" layers="" history=""
  mkdir -p "$blobs"
  for tar in "$@"; do
    local diff_id digest size
    diff_id=sha256:$(sha256sum "$tar" | cut -d' ' -f1)
    gzip -n -6 <"$tar" >"$tar.gz"
    digest=$(oci_put_blob "$tar.gz" "$blobs")
    size=$(stat -c %s "$tar.gz")
    rm -f "$tar.gz"
    diff_ids+="${diff_ids:+,}\"$diff_id\""
    layers+="${layers:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$digest\",\"size\":$size}"
    history+="${history:+,}{\"created\":\"2024-01-01T00:00:00Z\",\"created_by\":\"$(basename "$0"): $(basename "$tar")\"}"
  done
  cat >"$work/config.json" <<JSON
{"architecture":"amd64","os":"linux","created":"2024-01-01T00:00:00Z","config":$config_object,"rootfs":{"type":"layers","diff_ids":[$diff_ids]},"history":[$history]}
JSON
  local config config_size manifest manifest_size
  config=$(oci_put_blob "$work/config.json" "$blobs")
  config_size=$(stat -c %s "$work/config.json")
  cat >"$work/manifest.json" <<JSON
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:$config","size":$config_size},"layers":[$layers]}
JSON
  manifest=$(oci_put_blob "$work/manifest.json" "$blobs")
  manifest_size=$(stat -c %s "$work/manifest.json")
  echo '{"imageLayoutVersion":"1.0.0"}' >"$work/oci/oci-layout"
  cat >"$work/oci/index.json" <<JSON
{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:$manifest","size":$manifest_size,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}
JSON
  echo "sha256:$manifest"
}

oci_push() {
  local work=$1 registry=$2
  shift 2
  for name in "$@"; do
    skopeo copy --quiet --dest-tls-verify=false "oci:$work/oci:latest" "docker://$registry/$name"
  done
}
