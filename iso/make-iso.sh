#!/usr/bin/env bash
# make-iso.sh KERNEL INITRD CMDLINE LABEL OUT: an El Torito (isolinux) CD that boots KERNEL with
# INITRD and CMDLINE, reproducibly (SOURCE_DATE_EPOCH): what vSphere boots, for the ContainerVMs
# (iso/build.sh) and the appliance (iso/build-appliance.sh).
set -euo pipefail
kernel=$1 initrd=$2 cmdline=$3 label=$4 out=$5
: "${SOURCE_DATE_EPOCH:=1704067200}"
iso=$(mktemp -d "${out}.root.XXXXXX")
trap 'rm -rf "$iso"' EXIT
mkdir -p "$iso/isolinux"
cp /usr/lib/ISOLINUX/isolinux.bin /usr/lib/syslinux/modules/bios/ldlinux.c32 "$iso/isolinux/"
cat >"$iso/isolinux/isolinux.cfg" <<CFG
DEFAULT vic
PROMPT 0
TIMEOUT 0
LABEL vic
  KERNEL /vmlinuz
  INITRD /initrd.img
  APPEND $cmdline
CFG
cp "$kernel" "$iso/vmlinuz"
cp "$initrd" "$iso/initrd.img"
find "$iso" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
rm -f "$out.tmp"
# -no-pad: the 300 KiB tail that guards physical drives' read-ahead is of no use to a virtual CD.
status=0
xorriso -as mkisofs -quiet -o "$out.tmp" -V "$label" -R -r -no-pad \
  -b isolinux/isolinux.bin -c isolinux/boot.cat -no-emul-boot -boot-load-size 4 -boot-info-table \
  "$iso" 2>"$iso.log" || status=$?
grep -v -e '^xorriso : NOTE' -e '^xorriso [0-9.]* : RockRidge' -e '^$' "$iso.log" >&2 || true
rm -f "$iso.log"
if [ "$status" -ne 0 ] || [ ! -s "$out.tmp" ]; then
  echo "make-iso.sh: xorriso failed ($status)" >&2
  rm -f "$out.tmp"
  exit 1
fi
mv "$out.tmp" "$out"
