#!/usr/bin/env bash
# Fetches the ContainerVM kernel: Debian's linux-image-cloud-amd64, unpacked (no install, no root
# needed beyond apt's cache) into iso/out/kernel/. Prints the path of vmlinuz. Re-running is free
# once the package is unpacked.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out="$here/out/kernel"
mkdir -p "$out"

# The metapackage names the versioned image package that holds the kernel.
image=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
if [ -z "$image" ]; then
  apt-get update -q >/dev/null
  image=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
fi
release=${image#linux-image-}

if [ ! -f "$out/$release/vmlinuz" ]; then
  work=$(mktemp -d)
  chmod 777 "$work" # apt-get download drops to the _apt user
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && apt-get download -q "$image" >/dev/null)
  dpkg-deb -x "$work"/"$image"_*.deb "$work/root"
  mkdir -p "$out/$release"
  cp "$work/root/boot/vmlinuz-$release" "$out/$release/vmlinuz"
  cp -a "$work/root/lib/modules/$release" "$out/$release/modules"
fi
ln -sfn "$release" "$out/current"
echo "$out/current/vmlinuz"
