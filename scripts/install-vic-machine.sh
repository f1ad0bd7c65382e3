#!/usr/bin/env bash
# Publishes vic-machine (with the endpoint it starts) to out/vic-machine and installs a
# `vic-machine` launcher (and VIC's own name for it, `vic-machine-linux`) in BIN: by default
# /usr/local/bin for root, ~/.local/bin otherwise. What `make up` runs; the tests run it with a BIN
# of their own. vic-machine finds the ISOs it uploads from where it is installed (iso/out of this
# tree), so the launcher works from any directory.
set -euo pipefail
cd "$(dirname "$0")/.."
config=${1:-Release}
root=$PWD
out=${VIC_MACHINE_OUT:-$root/out/vic-machine}
if [ -n "${VIC_MACHINE_BIN:-}" ]; then
  bin=$VIC_MACHINE_BIN
elif [ "$(id -u)" -eq 0 ]; then
  bin=/usr/local/bin
else
  bin=$HOME/.local/bin
fi
dotnet publish vch-endpoint/Vic.Machine -c "$config" -o "$out" --nologo -v quiet
# The ISOs (and the local backend's kernel and initramfs) beside it: iso/build.sh's output, and the
# VCH appliance's appliance.iso (iso/build-appliance.sh), which vSphere VCHs boot their endpoint from.
"$root/iso/build.sh" >/dev/null
"$root/iso/build-appliance.sh" >/dev/null
ln -sfn "$root/iso/out" "$out/iso"
mkdir -p "$bin"
cat >"$bin/vic-machine.new" <<LAUNCHER
#!/bin/sh
# vic-machine from $root (installed by scripts/install-vic-machine.sh)
exec dotnet "$out/vic-machine.dll" "\$@"
LAUNCHER
chmod 755 "$bin/vic-machine.new"
mv "$bin/vic-machine.new" "$bin/vic-machine"
ln -sf vic-machine "$bin/vic-machine-linux"
case ":$PATH:" in
  *":$bin:"*) echo "vic-machine: installed in $bin" ;;
  *) echo "vic-machine: installed in $bin, which is not on your PATH: add it (export PATH=\"$bin:\$PATH\")" ;;
esac
