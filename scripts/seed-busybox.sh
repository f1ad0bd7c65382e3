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
busybox_rootfs "$root"

reproducible_layer "$root" "$work/busybox-static-$(dpkg-query -W -f='${Version}' busybox-static 2>/dev/null || echo unknown).tar"
manifest=$(oci_image "$work" '{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"]}' "$work"/busybox-static-*.tar)
oci_push "$work" "$registry" library/busybox:latest busybox:latest
echo "seeded $registry/library/busybox:latest ($manifest)"
