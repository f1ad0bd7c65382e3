#!/usr/bin/env bash
# Builds two images from Debian's own packages and pushes them to REGISTRY with skopeo:
#   debian:bookworm  one layer: debootstrap --variant=minbase (glibc, dpkg and apt databases)
#   nginx:latest     that layer plus one with Debian's nginx-light, run in the foreground
# The rootfs is built once per machine and kept in ~/.cache/vic (debootstrap needs root and
# reaches the Debian mirror apt uses). Usage: seed-debian.sh HOST:PORT
set -euo pipefail
registry=${1:?usage: seed-debian.sh HOST:PORT}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/oci-image.sh"
cache=${XDG_CACHE_HOME:-$HOME/.cache}/vic/debian-bookworm
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

# One reproducible layer of a folder (or of the listed paths in it): fixed order, owners kept, no /dev nodes.
layer() {
  local root=$1 out=$2
  shift 2
  $sudo tar --sort=name --numeric-owner --mtime='2024-01-01 00:00:00Z' --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
    -C "$root" -cf "$out" "$@"
  $sudo chown "$(id -u):$(id -g)" "$out"
}

if [ ! -f "$cache/nginx.tar" ]; then
  rm -rf "$cache" && mkdir -p "$cache"
  root="$cache/rootfs"
  $sudo debootstrap --variant=minbase bookworm "$root" "$mirror" >"$cache/debootstrap.log"
  $sudo rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/log/*.log
  layer "$root" "$cache/debian-bookworm.tar" .

  # What installing nginx-light adds or changes: every path changed (ctime: dpkg keeps the packages' mtimes) after this mark.
  $sudo touch "$root/.vic-mark"
  sleep 1
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$root/usr/sbin/policy-rc.d" >/dev/null
  $sudo chmod +x "$root/usr/sbin/policy-rc.d"
  $sudo chroot "$root" /bin/sh -c 'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nginx-light' >>"$cache/debootstrap.log"
  $sudo rm -rf "$root/usr/sbin/policy-rc.d" "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
  # As Docker's nginx image: logs to the container's stdout and stderr.
  $sudo ln -sf /dev/stdout "$root/var/log/nginx/access.log"
  $sudo ln -sf /dev/stderr "$root/var/log/nginx/error.log"
  (cd "$root" && $sudo find . -xdev -cnewer .vic-mark ! -path ./.vic-mark ! -path './dev/*' ! -path './proc/*' ! -path './sys/*' -print0 | sort -z) >"$cache/nginx.list"
  $sudo tar --null --no-recursion --numeric-owner --mtime='2024-01-01 00:00:00Z' -C "$root" -cf "$cache/nginx.tar" -T "$cache/nginx.list"
  $sudo chown "$(id -u):$(id -g)" "$cache/nginx.tar"
fi

path='"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"'
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$cache/debian-bookworm.tar" "$work/"
digest=$(oci_image "$work/debian" "{\"Env\":[$path],\"Cmd\":[\"bash\"]}" "$work/debian-bookworm.tar")
oci_push "$work/debian" "$registry" library/debian:bookworm debian:bookworm
echo "seeded $registry/library/debian:bookworm ($digest)"

cp "$cache/nginx.tar" "$work/nginx-light.tar"
digest=$(oci_image "$work/nginx" "{\"Env\":[$path],\"Cmd\":[\"nginx\",\"-g\",\"daemon off;\"],\"ExposedPorts\":{\"80/tcp\":{}},\"StopSignal\":\"SIGQUIT\"}" "$work/debian-bookworm.tar" "$work/nginx-light.tar")
oci_push "$work/nginx" "$registry" library/nginx:latest nginx:latest
echo "seeded $registry/library/nginx:latest ($digest)"
