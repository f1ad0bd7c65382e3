#!/usr/bin/env bash
# Builds the VCH appliance's boot media into iso/out/ (or $OUT), from what iso/build.sh made:
#   appliance.iso    El Torito (isolinux) CD: the ContainerVMs' kernel, and an initramfs with
#                    the endpoint (published self-contained, ReadyToRun), the shared libraries it
#                    needs, the kernel modules of the ContainerVMs' initramfs, busybox and /init
#
# /init brings the NICs up (DHCP on each; `network.sh` on the config disk may address them instead)
# and starts the endpoint with the arguments in `endpoint.args` (one a line) on the disk labelled
# VIC_CONFIG (an ext4 file system on a disk the VM's SCSI or virtio controller has: the
# ContainerVMs' modules include both, and no CD-ROM driver), its data on a disk labelled VIC_DATA
# when there is one (else in memory). When the config names a data disk (`data-disk`: its SCSI
# unit) and that disk is blank, the first boot makes VIC_DATA on it. vic-supervise.sh starts the
# endpoint again whenever it fails or is killed. Each step is skipped when its inputs are unchanged.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
out=$(mkdir -p "${OUT:-$here/out}" && cd "${OUT:-$here/out}" && pwd)
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1704067200}
export LC_ALL=C TZ=UTC
umask 022
log() { echo "build-appliance.sh: $*" >&2; }
stamp_ok() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }

[ -f "$out/initramfs.cpio" ] && [ -f "$out/vmlinuz" ] || "$here/build.sh" >/dev/null

# One appliance build at a time per checkout (build.sh, above, takes its own lock).
exec 8>"$out/.appliance.lock"
flock 8

# --- the endpoint, self-contained --------------------------------------------------------------
publish="$out/appliance-endpoint"
# Every source file the endpoint builds from, by content (tracked or not, committed or not).
sources_key=$( (cd "$repo" && find vch-endpoint imagestore -type f \( -name '*.cs' -o -name '*.csproj' -o -name '*.json' -o -name '*.css' -o -name '*.js' -o -name '*.html' \) \
  -not -path '*/bin/*' -not -path '*/obj/*' | sort | while read -r f; do echo "$f"; sha256sum <"$f"; done
  for f in Directory.Build.props Directory.Packages.props global.json NuGet.config; do [ -f "$f" ] && { echo "$f"; sha256sum <"$f"; }; done; true) | sha256sum | cut -d' ' -f1)
if ! stamp_ok "$out/.appliance-endpoint.stamp" "$sources_key" || [ ! -x "$publish/vch-endpoint" ]; then
  rm -rf "$publish" "$out/.appliance-endpoint.stamp"
  # ReadyToRun: the appliance starts under whatever CPU vSphere gives it; no JIT of the whole host first.
  dotnet publish "$repo/vch-endpoint/Vic.Endpoint" -c Release -r linux-x64 --self-contained \
    -p:PublishReadyToRun=true -p:InvariantGlobalization=true -o "$publish" --nologo -v quiet >&2
  echo "$sources_key" >"$out/.appliance-endpoint.stamp"
fi

# --- initramfs ---------------------------------------------------------------------------------
key=$( { sha256sum <"$here/build-appliance.sh"; sha256sum <"$here/make-iso.sh"; sha256sum <"$here/vic-supervise.sh"; sha256sum <"$out/initramfs.cpio"; sha256sum <"$out/vmlinuz"; echo "$sources_key"; sha256sum </bin/busybox; } | sha256sum | cut -d' ' -f1)
if ! stamp_ok "$out/.appliance.stamp" "$key" || [ ! -f "$out/appliance.iso" ]; then
  root="$out/.appliance-root"
  rm -rf "$root"
  mkdir -p "$root"/{proc,sys,dev,run,tmp,mnt/config,data,etc/ssl/certs,bin,sbin,opt,lib64,usr/share/udhcpc}
  chmod 1777 "$root/tmp"
  # The ContainerVMs' modules (NICs and disks of both QEMU and vSphere) and their load order.
  (cd "$root" && cpio -id --quiet 'lib/modules/*' <"$out/initramfs.cpio")
  install -m 755 /bin/busybox "$root/bin/busybox"
  for applet in sh mount umount mkdir cat ip ifconfig route udhcpc insmod findfs sleep ln echo ls poweroff grep seq head timeout readlink basename tr wc sync; do
    ln -sf busybox "$root/bin/$applet"
  done
  cp -a "$publish" "$root/opt/vch-endpoint"
  install -m 755 "$here/vic-supervise.sh" "$root/sbin/vic-supervise"
  # e2fsprogs' mke2fs: ext4 with lazily initialised inode tables, so a data disk of gigabytes is made in a moment.
  install -m 755 /sbin/mke2fs "$root/sbin/mke2fs"
  cp -L /etc/mke2fs.conf "$root/etc/mke2fs.conf"
  # What the runtime and its native parts load, and what they open at run time (OpenSSL, zlib).
  libs=()
  while read -r lib; do libs+=("$lib"); done < <(
    for f in "$publish/vch-endpoint" "$publish"/*.so /sbin/mke2fs; do ldd "$f" 2>/dev/null || true; done |
      awk '/=> \// {print $3} /^\t\// {print $1}' | sort -u)
  for lib in libssl.so.3 libcrypto.so.3 libz.so.1 libgcc_s.so.1 libstdc++.so.6; do
    libs+=("$(readlink -f "/usr/lib/x86_64-linux-gnu/$lib" || readlink -f "/lib/x86_64-linux-gnu/$lib")")
  done
  for lib in "${libs[@]}"; do
    [ -n "$lib" ] || continue
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
  for lib in libssl.so.3 libcrypto.so.3 libz.so.1 libgcc_s.so.1 libstdc++.so.6; do
    [ -e "$root/usr/lib/x86_64-linux-gnu/$lib" ] || { mkdir -p "$root/usr/lib/x86_64-linux-gnu"; cp -L "/usr/lib/x86_64-linux-gnu/$lib" "$root/usr/lib/x86_64-linux-gnu/$lib"; }
  done
  mkdir -p "$root/lib64"
  cp -L /lib64/ld-linux-x86-64.so.2 "$root/lib64/"
  cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
  printf 'root:x:0:\n' >"$root/etc/group"
  printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
  printf '127.0.0.1\tlocalhost\n' >"$root/etc/hosts"
  cat >"$root/usr/share/udhcpc/default.script" <<'SCRIPT'
#!/bin/sh
# udhcpc's hook: the lease's address, route and nameservers.
case "$1" in
  bound|renew)
    ifconfig "$interface" "$ip" netmask "${subnet:-255.255.255.0}" up
    if [ -n "$router" ]; then
      while route del default dev "$interface" 2>/dev/null; do :; done
      for r in $router; do route add default gw "$r" dev "$interface"; break; done
    fi
    : >/etc/resolv.conf
    for d in $dns; do echo "nameserver $d" >>/etc/resolv.conf; done
    ;;
esac
SCRIPT
  chmod 755 "$root/usr/share/udhcpc/default.script"
  cat >"$root/init" <<'INIT'
#!/bin/sh
# The VCH appliance: NICs up, the config disk read, the endpoint started and kept running.
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# The initramfs has no /dev/console of its own: the kernel started this script with no output.
exec </dev/console >/dev/console 2>&1
mount -t tmpfs -o mode=1777 tmpfs /tmp
while read -r module; do insmod "/lib/modules/$module" 2>/dev/null; done </lib/modules/modules.order
ifconfig lo 127.0.0.1 up
config=""
for i in $(seq 1 50); do
  config=$(findfs LABEL=VIC_CONFIG 2>/dev/null) && break
  sleep 0.2
done
if [ -z "$config" ] || ! mount -o ro "$config" /mnt/config; then
  echo "vic-appliance: no disk labelled VIC_CONFIG: nothing to serve; powering off"
  poweroff -f
fi
[ -e /mnt/config/trace ] && set -x
# The data disk: waited for when the config says there is one (SCSI disks are found in the background).
data=""
for i in $(seq 1 50); do
  data=$(findfs LABEL=VIC_DATA 2>/dev/null) && break
  [ -e /mnt/config/data-disk ] || break
  sleep 0.2
done
if [ -z "$data" ] && [ -e /mnt/config/data-disk ]; then
  # The first boot: the disk at the SCSI unit the config names, if it is blank (its first 64 KiB
  # all zeros; a disk with anything on it is never formatted), becomes VIC_DATA.
  unit=$(cat /mnt/config/data-disk)
  disk=""
  for i in $(seq 1 50); do
    for b in /sys/block/sd*; do
      [ -e "$b/device" ] || continue
      case "$(basename "$(readlink "$b/device")")" in
        *:*:"$unit":0) disk=/dev/$(basename "$b") ;;
      esac
    done
    [ -n "$disk" ] && break
    sleep 0.2
  done
  # Blank only if all 64 KiB were read and every byte is zero: a read that fails proves nothing.
  if [ -n "$disk" ] && head -c 65536 "$disk" >/tmp/data-head 2>/dev/null && [ "$(wc -c </tmp/data-head)" -eq 65536 ] &&
    [ "$(tr -d '\000' </tmp/data-head | wc -c)" -eq 0 ]; then
    echo "vic-appliance: making VIC_DATA on the blank disk $disk"
    # The full path: busybox's shell would run its own mke2fs applet, which makes ext2 only.
    /sbin/mke2fs -q -t ext4 -L VIC_DATA -E lazy_itable_init=1,lazy_journal_init=1 "$disk" && data=$disk
  fi
fi
if [ -n "$data" ]; then
  mount "$data" /data || { echo "vic-appliance: the data disk $data does not mount: powering off rather than serve from memory"; poweroff -f; }
elif [ -e /mnt/config/data-disk ]; then
  echo "vic-appliance: the config names a data disk and none is labelled VIC_DATA: powering off rather than serve from memory"
  poweroff -f
fi
if [ -f /mnt/config/network.sh ]; then
  # vic-machine's static addresses (the VCH's public, bridge and management networks).
  sh /mnt/config/network.sh || echo "vic-appliance: network.sh failed ($?)"
else
  for nic in $(ls /sys/class/net | grep -v '^lo$'); do
    ifconfig "$nic" up
    # Not -q: once it has a lease udhcpc goes to the background and renews it for as long as the appliance runs.
    udhcpc -i "$nic" -n -t 5 -T 2 -s /usr/share/udhcpc/default.script -p "/run/udhcpc.$nic.pid" || echo "vic-appliance: no DHCP lease on $nic"
  done
fi
# The arguments, one a line (a port group's name may hold spaces); not echoed (they may name secrets' files).
set --
while IFS= read -r arg || [ -n "$arg" ]; do
  [ -n "$arg" ] && set -- "$@" "$arg"
done </mnt/config/endpoint.args
# The proxies (their URLs may hold a password: an environment, not arguments).
[ -f /mnt/config/proxy.env ] && . /mnt/config/proxy.env
echo "vic-appliance: starting the endpoint"
export DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 HOME=/data
# Started again whenever it fails or is killed; the appliance powers off only once it stops of itself.
/sbin/vic-supervise /opt/vch-endpoint/vch-endpoint --data-dir /data/vch "$@"
echo "vic-appliance: the endpoint stopped; powering off"
sync
umount /data 2>/dev/null
poweroff -f
INIT
  chmod 755 "$root/init"
  find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
  (cd "$root" && find . -mindepth 1 | sed 's|^\./||' | sort | cpio -o -H newc --reproducible -R 0:0 --quiet) |
    zstd -q -6 -T0 --no-check >"$out/appliance-initrd.img.tmp"
  mv "$out/appliance-initrd.img.tmp" "$out/appliance-initrd.img"
  rm -rf "$root"

  "$here/make-iso.sh" "$out/vmlinuz" "$out/appliance-initrd.img" "console=ttyS0 quiet panic=-1 cryptomgr.notests" VIC_APPLIANCE "$out/appliance.iso"
  echo "$key" >"$out/.appliance.stamp"
fi
echo "appliance.iso  $(awk -v b="$(stat -c %s "$out/appliance.iso")" 'BEGIN { printf "%.1f MiB", b / 1048576 }')  ($out/appliance.iso)"
