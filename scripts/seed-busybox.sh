#!/usr/bin/env bash
# Builds a busybox image from Debian's busybox-static (one layer: the binary, its applet links and
# a minimal /etc) as an OCI layout, and pushes it with skopeo to REGISTRY as library/busybox:latest
# and busybox:latest. Usage: seed-busybox.sh HOST:PORT
set -euo pipefail
registry=${1:?usage: seed-busybox.sh HOST:PORT}
here=$(dirname "$0")
. "$here/oci-image.sh"
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
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime='2024-01-01 00:00:00Z' -C "$root" -cf "$work/busybox-static-$(dpkg-query -W -f='${Version}' busybox-static 2>/dev/null || echo unknown).tar" .
manifest=$(oci_image "$work" '{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"]}' "$work"/busybox-static-*.tar)
oci_push "$work" "$registry" library/busybox:latest busybox:latest
echo "seeded $registry/library/busybox:latest ($manifest)"
