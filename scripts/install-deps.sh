#!/usr/bin/env bash
# Installs what the VCH and its tests need from Debian's packages. Safe to re-run: it installs only
# what is missing, and runs apt-get update only when it has to install something.
set -euo pipefail

packages=(
  python3-docker   # docker-py, a client the tests drive the VCH with
  python3-pytest   # runs docker-py's own integration suite against a VCH (docs/COMPATIBILITY.md)
  python3-paramiko # docker-py's test helpers import it
  docker-compose   # compose 1.29, a client the tests drive the VCH with
  openssl          # certificates for the TLS tests and `make up --tls`
  curl
  e2fsprogs        # e2fsck and debugfs check the ext4 layer images we write
  qemu-utils       # qemu-img checks and compares the VMDKs we write
  docker-registry  # distribution 2.8: the local registry tests pull from and push to
  skopeo           # seeds that registry and is the reference in bench/pull
  busybox-static   # the busybox image make up seeds
  debootstrap      # the debian:bookworm and nginx images make up seeds (scripts/seed-debian.sh)
  apache2-utils    # htpasswd: the tests' registry with basic auth
  tinyproxy-bin    # an HTTP proxy: the tests pull through it (--http-proxy)
  rsyslog          # a syslog server: the tests send containers' logs to it (--log-driver syslog)
  bc               # arithmetic in the benchmarks
  xz-utils         # the endpoint unpacks xz build contexts and ADD archives with xz -dc
  bzip2            # the build tests compress contexts with it, as clients do
  qemu-system-x86  # the local hypervisor: every ContainerVM is a QEMU process
  build-essential  # gcc + static glibc: vic-init and vic-exec in the initramfs (iso/build.sh)
  cpio             # the initramfs archive (iso/build.sh)
  zstd             # initramfs compression (iso/build.sh)
  lz4              # unpacks the kernel's payload for QEMU's direct (PVH) boot (iso/build.sh)
  xorriso          # bootstrap.iso (iso/build.sh)
  isolinux         # its El Torito boot loader
  syslinux-common  # isolinux's ldlinux.c32
  golang-go                         # builds tools/vcsim, the vCenter simulator the vSphere tests talk to
  golang-github-vmware-govmomi-dev  # govmomi's simulator package (scripts/build-vcsim.sh)
  nfs-ganesha      # a userspace NFSv4 server: the tests' NFS volume store (no kernel nfsd needed)
  nfs-ganesha-vfs  # its back end that exports a local folder
  clang            # the linker driver Native AOT needs: the tether is published native (containervm-bootstrap)
  podman           # the reference engine the benchmarks measure the VCH against (with runc)
  runc
  buildah          # the reference builder bench/build measures docker build against (--isolation chroot)
  iptables         # keeps ContainerVMs off the host's loopback and the endpoint's ports (QEMU backend)
  chromium         # headless browser the vicadmin test drives (tests/browser, with playwright-core from npm)
  tesseract-ocr    # reads the vicadmin test's screenshots back (OCR): what the admin saw, not just the DOM
  tesseract-ocr-eng
)

if ! command -v dotnet >/dev/null; then
  echo "install-deps: the .NET 10 SDK (dotnet) is not on PATH; install it first" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
command -v docker >/dev/null || missing+=(docker.io)

if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "install-deps: installing ${missing[*]}"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The vicadmin browser test's driver: playwright-core from the npm registry, pinned by
# tests/browser/package-lock.json (it drives Debian's chromium; it downloads no browser of its own).
command -v npm >/dev/null || { sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"; $sudo apt-get install -y -q --no-install-recommends nodejs npm; }
browser_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/browser"
if [ ! "$browser_dir/node_modules/.package-lock.json" -nt "$browser_dir/package-lock.json" ]; then
  (cd "$browser_dir" && npm ci --no-audit --no-fund --loglevel=error)
fi
