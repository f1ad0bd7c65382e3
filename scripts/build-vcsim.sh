#!/usr/bin/env bash
# Builds tools/vcsim (the govmomi vCenter simulator, a vim25 SOAP test peer) from Debian's packages
# only: golang-go (Go 1.19) and golang-github-vmware-govmomi-dev (govmomi 0.24.2, which pulls in
# golang-github-google-uuid-dev). No module proxy: GOPATH mode against /usr/share/gocode.
#
#   scripts/build-vcsim.sh [OUTPUT]      default OUTPUT: <repo>/out/tools/vcsim
#
# Safe to re-run: installs only missing packages, and skips the build when OUTPUT is newer than
# every tools/vcsim/*.go and this script (VCSIM_FORCE=1 rebuilds anyway). Prints OUTPUT's path last.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$repo/tools/vcsim"
out="${1:-$repo/out/tools/vcsim}"

newest="$(ls -t "$src"/*.go "${BASH_SOURCE[0]}" | head -1)"
if [ "${VCSIM_FORCE:-0}" != 1 ] && [ -x "$out" ] && [ "$out" -nt "$newest" ]; then
  echo "build-vcsim: $out is up to date" >&2
  echo "$out"
  exit 0
fi

packages=(
  golang-go                         # Go 1.19 toolchain
  golang-github-vmware-govmomi-dev  # govmomi 0.24.2 source, simulator included (depends on golang-github-google-uuid-dev)
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "build-vcsim: installing ${missing[*]}" >&2
  $sudo apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi

go=/usr/lib/go-1.19/bin/go
[ -x "$go" ] || go="$(command -v go)"

cache="${VCSIM_GOCACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vic-vcsim/go-build}"
mkdir -p "$cache" "$(dirname "$out")"
tmp="$(mktemp "$(dirname "$out")/.vcsim.XXXXXX")"
trap 'rm -f "$tmp"' EXIT

echo "build-vcsim: building $out" >&2
(
  cd "$src"
  env GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= GOPROXY=off GOCACHE="$cache" CGO_ENABLED=0 \
    "$go" build -trimpath -ldflags='-s -w' -o "$tmp" .
)
chmod 755 "$tmp"
mv -f "$tmp" "$out"
trap - EXIT
echo "$out"
