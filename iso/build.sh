#!/usr/bin/env bash
# Builds the ContainerVM boot media, reproducibly, into iso/out/ (or $OUT):
#   vmlinuz          Debian's cloud kernel (iso/fetch-kernel.sh fetches it)
#   initramfs.img    /init (vic-init), /sbin/vic-exec, /tether (the tether), the kernel modules a
#                    ContainerVM needs, the shared libraries the tether needs
#   bootstrap.iso    El Torito (isolinux) CD with both
#   vmlinux, initramfs.cpio
#                    the same two unpacked, for the QEMU backend's direct boot (PVH)
# and prints their sizes. Each step is skipped when its inputs are unchanged (content-hash stamps),
# so re-running is fast.
#
# The tether comes from, in this order:
#   TETHER_DIR=DIR        a prebuilt directory holding vic-tether (and whatever it needs)
#   TETHER=placeholder    a static stand-in that prints what it found and powers off (iso/placeholder-tether.c)
#   containervm-bootstrap/Vic.Tether, published with Native AOT (one native executable, no JIT: its
#                         start under emulation is what a clone's first answer waits for)
# and, when that project does not exist yet, the placeholder.
#
# Other knobs: OUT=DIR, COMPRESS=zstd|gzip|lz4|xz|none, SOURCE_DATE_EPOCH (default 2024-01-01).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
out=$(mkdir -p "${OUT:-$here/out}" && cd "${OUT:-$here/out}" && pwd)
native="$here/out/native"
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1704067200}
export LC_ALL=C TZ=UTC
compress=${COMPRESS:-zstd}
umask 022

# One build at a time per checkout: test projects run in parallel and each calls this script.
mkdir -p "$here/out"
exec 9>"$here/out/.build.lock"
flock 9

# What the tether and the backends expect inside every ContainerVM.
modules_wanted=(
  virtio_pci virtio_blk virtio_net virtio_console virtio_rng virtio_scsi
  vsock vmw_vsock_virtio_transport
  overlay ext4
  vmw_pvscsi sd_mod vmxnet3 vmw_vsock_vmci_transport
  9p 9pnet_virtio virtiofs
  acpiphp pciehp shpchp # PCI hot-add after an instant-clone restore (pc: ACPI, q35: PCIe native)
)
# Loaded by the tether only when a container mounts an NFS volume: under emulation they take 0.6 s
# to load, most of a cold boot's module time.
modules_nfs=(nfs nfsv4)
# The ISO is what vSphere boots: a ContainerVM's one serial port (COM1) is its channel, backed by
# the network; the console goes to a second one, which only tests plug in.
# No crypto self-tests: 0.25-0.4 s of a boot under emulation.
iso_cmdline="console=ttyS1 quiet panic=-1 cryptomgr.notests vic.channel=/dev/ttyS0"

log() { echo "build.sh: $*" >&2; }
hash_files() { # sha256 over the contents of the files given, in order (not their paths: a moved checkout stays built)
  local f
  for f in "$@"; do sha256sum <"$f"; done | sha256sum | cut -d' ' -f1
}
stamp_ok() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }

# --- kernel ---------------------------------------------------------------------------------
kernel="$here/out/kernel/current"
if [ ! -f "$kernel/vmlinuz" ]; then
  "$here/fetch-kernel.sh" >/dev/null
fi
modules_dir="$kernel/modules"
release=$(basename "$(readlink -f "$kernel")")

# --- vic-init, vic-exec, the placeholder: static C ------------------------------------------
cflags=(-static -Os -s -Wall -Wextra -Werror -D_FORTIFY_SOURCE=2 -fno-asynchronous-unwind-tables)
mkdir -p "$native"
build_c() { # name source
  local name=$1 source=$2 key
  key=$(printf '%s\n' "${cflags[*]}" "$(gcc -dumpfullversion)" "$(hash_files "$source")" | sha256sum | cut -d' ' -f1)
  if ! stamp_ok "$native/.$name.stamp" "$key" || [ ! -x "$native/$name" ]; then
    gcc "${cflags[@]}" -o "$native/$name.tmp" "$source"
    mv "$native/$name.tmp" "$native/$name"
    echo "$key" >"$native/.$name.stamp"
  fi
}
build_c vic-init "$repo/containervm-bootstrap/native/vic-init.c"
build_c vic-exec "$repo/containervm-bootstrap/native/vic-exec.c"
build_c placeholder-tether "$here/placeholder-tether.c"

# --- the tether -----------------------------------------------------------------------------
tether_project="$repo/containervm-bootstrap/Vic.Tether/Vic.Tether.csproj"
project_dirs() { # the project's directory and those of its ProjectReferences, recursively
  local dir ref
  dir=$(cd "$(dirname "$1")" && pwd)
  echo "$dir"
  for ref in $(grep -o 'ProjectReference Include="[^"]*"' "$1" | sed 's/.*Include="\([^"]*\)"/\1/' | tr '\\' '/'); do
    project_dirs "$dir/$ref"
  done
}
if [ -n "${TETHER_DIR:-}" ]; then
  tether_dir=$(cd "$TETHER_DIR" && pwd)
  [ -x "$tether_dir/vic-tether" ] || { log "$tether_dir/vic-tether is missing"; exit 1; }
elif [ "${TETHER:-}" = placeholder ] || [ ! -f "$tether_project" ]; then
  [ "${TETHER:-}" = placeholder ] || log "no $tether_project yet: using the placeholder tether"
  tether_dir="$native/placeholder"
  mkdir -p "$tether_dir"
  cmp -s "$native/placeholder-tether" "$tether_dir/vic-tether" || cp "$native/placeholder-tether" "$tether_dir/vic-tether"
else
  tether_dir="$here/out/tether"
  # Native AOT: the JIT-compiled tether took ~1.5 s from exec to its hello under TCG; the linker
  # driver it needs is clang (scripts/install-deps.sh).
  publish_flags=(-c Release -r linux-x64 -p:PublishAot=true -p:InvariantGlobalization=true)
  mapfile -t sources < <(
    { project_dirs "$tether_project" | sort -u | while read -r d; do
        find "$d" \( -name bin -o -name obj \) -type d -prune -o -type f -print
      done
      for f in Directory.Build.props Directory.Build.targets Directory.Packages.props global.json NuGet.config; do
        [ -f "$repo/$f" ] && echo "$repo/$f"
      done; } | sort -u)
  key=$( { echo "${publish_flags[*]}"; (cd "$repo" && dotnet --version); printf '%s\n' "${sources[@]#"$repo/"}"
    hash_files "${sources[@]}"; } | sha256sum | cut -d' ' -f1)
  if ! stamp_ok "$here/out/.tether.stamp" "$key" || [ ! -x "$tether_dir/vic-tether" ]; then
    log "publishing the tether (dotnet publish ${tether_project#"$repo/"})"
    rm -rf "$tether_dir"
    # Own artifacts path: never share obj/ with a concurrent build of the solution.
    if ! (cd "$repo" && dotnet publish "$tether_project" "${publish_flags[@]}" -o "$tether_dir" \
      --artifacts-path "$here/out/tether-build" --nologo -v quiet) >"$here/out/tether-publish.log" 2>&1; then
      cat "$here/out/tether-publish.log" >&2
      log "dotnet publish of the tether failed"
      exit 1
    fi
    rm -f "$tether_dir"/*.pdb "$tether_dir"/*.dbg
    echo "$key" >"$here/out/.tether.stamp"
  fi
fi

# --- modules: the wanted ones and what they depend on, in load order --------------------------
declare -A module_file=()
while IFS= read -r f; do
  n=$(basename "$f"); n=${n%%.ko*}; module_file[${n//-/_}]=$f
done < <(cd "$modules_dir" && find kernel -name '*.ko*' | sort)
declare -A builtin=()
while IFS= read -r f; do
  n=$(basename "$f"); n=${n%%.ko*}; builtin[${n//-/_}]=1
done <"$modules_dir/modules.builtin"
modinfo_field() { # file field -> values, one a line
  local tmp
  tmp=$(mktemp)
  case "$1" in
    *.ko) cp "$1" "$tmp" ;; *.ko.xz) xz -dc "$1" >"$tmp" ;; *.ko.zst) zstd -qdc "$1" >"$tmp" ;; *.ko.gz) gzip -dc "$1" >"$tmp" ;;
  esac
  objcopy -O binary --only-section=.modinfo "$tmp" "$tmp.info"
  tr '\0' '\n' <"$tmp.info" | sed -n "s/^$2=//p"
  rm -f "$tmp" "$tmp.info"
}
declare -A visited=()
order=()
skipped=()
add_module() {
  local name=${1//-/_} dep soft
  [ -z "${visited[$name]:-}" ] || return 0
  visited[$name]=1
  if [ -z "${module_file[$name]:-}" ]; then
    # Not a module: built in (modules.builtin lists tristate options only) or not configured.
    if [ -n "${builtin[$name]:-}" ]; then skipped+=("$name(built in)"); else skipped+=("$name(no such module)"); fi
    return 0
  fi
  for soft in $(modinfo_field "$modules_dir/${module_file[$name]}" softdep | sed -n 's/.*pre:\([^:]*\)\(post:.*\)\{0,1\}$/\1/p'); do
    [ -n "${module_file[${soft//-/_}]:-}" ] && add_module "$soft"
  done
  for dep in $(modinfo_field "$modules_dir/${module_file[$name]}" depends | tr ',' ' '); do
    add_module "$dep"
  done
  order+=("$name")
}
modules_key=$( { echo "$release ${modules_wanted[*]} / ${modules_nfs[*]}"; stat -c '%n %s %Y' "$modules_dir/modules.builtin"; } | sha256sum | cut -d' ' -f1)
if stamp_ok "$here/out/.modules.stamp" "$modules_key" && [ -f "$here/out/modules.list" ] && [ -f "$here/out/modules-nfs.list" ]; then
  mapfile -t order <"$here/out/modules.list"
  mapfile -t order_nfs <"$here/out/modules-nfs.list"
else
  for m in "${modules_wanted[@]}"; do add_module "$m"; done
  boot_count=${#order[@]}
  # What the NFS modules need beyond the boot set (visited is shared: nothing is listed twice).
  for m in "${modules_nfs[@]}"; do add_module "$m"; done
  order_nfs=("${order[@]:$boot_count}")
  order=("${order[@]:0:$boot_count}")
  printf '%s\n' "${order[@]}" >"$here/out/modules.list"
  printf '%s\n' "${order_nfs[@]}" >"$here/out/modules-nfs.list"
  echo "$modules_key" >"$here/out/.modules.stamp"
  [ ${#skipped[@]} -eq 0 ] || log "modules skipped: ${skipped[*]}"
fi

# --- shared libraries the tether needs (ldd), with the dynamic loader --------------------------
libs=()
while IFS= read -r elf; do
  if ! ldd_out=$(ldd "$elf" 2>&1); then
    continue # static, or not an ELF ldd understands
  fi
  if grep -q 'not found' <<<"$ldd_out"; then
    log "$elf needs libraries this machine does not have:"; grep 'not found' <<<"$ldd_out" >&2; exit 1
  fi
  while read -r lib; do libs+=("$lib"); done < <(awk '/=> \// {print $3} /^\t\// {print $1}' <<<"$ldd_out")
done < <(find "$tether_dir" -type f -perm -u+x -o -type f -name '*.so*' | sort)
mapfile -t libs < <(printf '%s\n' "${libs[@]}" | sort -u | grep . || true)

# --- initramfs --------------------------------------------------------------------------------
initramfs_key=$( {
  echo "$compress $SOURCE_DATE_EPOCH $release"; printf '%s\n' "${order[@]}" / "${order_nfs[@]}" "${libs[@]}"
  hash_files "$here/build.sh" "$native/vic-init" "$native/vic-exec"
  (cd "$tether_dir" && find . -type f -o -type l | sort | while read -r f; do echo "$f"; sha256sum <"$f"; done)
  for m in "${order[@]}" "${order_nfs[@]}"; do sha256sum <"$modules_dir/${module_file[$m]}"; done
  for l in "${libs[@]}"; do sha256sum <"$l"; done
} | sha256sum | cut -d' ' -f1)
if ! stamp_ok "$out/.initramfs.stamp" "$initramfs_key" || [ ! -f "$out/initramfs.img" ] || [ ! -f "$out/initramfs.cpio" ]; then
  root="$out/.initramfs-root"
  rm -rf "$root"
  mkdir -p "$root"/{proc,sys,dev,run,tmp,mnt,root,etc,sbin,tether,lib/modules,lib64}
  chmod 1777 "$root/tmp"
  chmod 700 "$root/root"
  install -m 755 "$native/vic-init" "$root/init"
  install -m 755 "$native/vic-exec" "$root/sbin/vic-exec"
  cp -a "$tether_dir/." "$root/tether/"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n' >"$root/etc/passwd"
  printf 'root:x:0:\ntty:x:5:\nnogroup:x:65534:\n' >"$root/etc/group"
  # Each module's BTF (type data for BPF) and signature are dropped: the kernel checks neither
  # unless told to, and both cost load time under emulation and size. A list file per set.
  copy_modules() { # list-file module...
    local list=$1 m f target
    shift
    : >"$root/lib/modules/$list"
    for m in "$@"; do
      f=${module_file[$m]}
      target="$root/lib/modules/${f%.ko*}.ko"
      mkdir -p "$(dirname "$target")"
      case "$f" in
        *.ko) cp "$modules_dir/$f" "$target" ;;
        *.ko.xz) xz -dc "$modules_dir/$f" >"$target" ;;
        *.ko.zst) zstd -qdc "$modules_dir/$f" >"$target" ;;
        *.ko.gz) gzip -dc "$modules_dir/$f" >"$target" ;;
      esac
      objcopy --remove-section=.BTF "$target"
      chmod 644 "$target"
      echo "${f%.ko*}.ko" >>"$root/lib/modules/$list"
    done
  }
  copy_modules modules.order "${order[@]}"
  copy_modules nfs.order "${order_nfs[@]}"
  echo "$release" >"$root/lib/modules/release"
  for l in "${libs[@]}"; do
    mkdir -p "$root$(dirname "$l")"
    cp -L "$l" "$root$l"
    chmod 755 "$root$l"
  done
  # The loader is found by the path in each program's PT_INTERP (/lib64/ld-linux-x86-64.so.2).
  find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
  case "$compress" in
    # A 16 MiB window (zstd -19 alone takes 8): 2% smaller, and still small beside a ContainerVM's memory.
    zstd) compressor=(zstd -q -19 --zstd=wlog=24 -T0 --no-check) ;;
    gzip) compressor=(gzip -n -9) ;;
    lz4) compressor=(lz4 -q -l -12 -) ;; # the kernel reads only lz4's legacy frame
    xz) compressor=(xz -q -9 --check=crc32 -T1) ;;
    none) compressor=(cat) ;;
    *) log "unknown COMPRESS=$compress"; exit 1 ;;
  esac
  # The archive itself is what QEMU's direct boot takes (unpacking it cost 0.3 s under emulation);
  # the ISO carries it compressed.
  (cd "$root" && find . -mindepth 1 | sed 's|^\./||' | sort |
    cpio -o -H newc --reproducible -R 0:0 --quiet) >"$out/initramfs.cpio.tmp"
  "${compressor[@]}" <"$out/initramfs.cpio.tmp" >"$out/initramfs.img.tmp"
  touch -d "@$SOURCE_DATE_EPOCH" "$out/initramfs.cpio.tmp"
  mv "$out/initramfs.cpio.tmp" "$out/initramfs.cpio"
  mv "$out/initramfs.img.tmp" "$out/initramfs.img"
  echo "$initramfs_key" >"$out/.initramfs.stamp"
  uncompressed=$(du -sb --apparent-size "$root" | cut -f1)
  rm -rf "$root"
  echo "$uncompressed" >"$out/.initramfs.uncompressed"
fi
cmp -s "$kernel/vmlinuz" "$out/vmlinuz" || cp "$kernel/vmlinuz" "$out/vmlinuz"
touch -d "@$SOURCE_DATE_EPOCH" "$out/vmlinuz"

# --- the QEMU backend's kernel: vmlinux --------------------------------------------------------
# QEMU boots an uncompressed kernel through its PVH entry point (with initramfs.cpio): under
# emulation that skips 0.1 s of unpacking it. The ISO keeps the bzImage: it is what vSphere boots.
unpack_kernel() { # bzImage -> the vmlinux ELF it carries, or nothing
  local image=$1 setup offset length start magic
  setup=$(od -An -tu1 -j 497 -N1 "$image" | tr -d ' ')
  [ "$setup" -ne 0 ] || setup=4
  offset=$(od -An -tu4 -j 584 -N4 "$image" | tr -d ' ')
  length=$(od -An -tu4 -j 588 -N4 "$image" | tr -d ' ')
  start=$(( (setup + 1) * 512 + offset ))
  payload() { dd if="$image" iflag=skip_bytes,count_bytes skip="$start" count="$1" status=none; }
  magic=$(payload 4 | od -An -tx1 | tr -d ' \n')
  # The payload ends with its unpacked size, which some tools call trailing garbage: the ELF is checked instead.
  case "$magic" in
    02214c18) payload "$length" | lz4 -dc 2>/dev/null || true ;;
    28b52ffd) payload "$length" | zstd -qdc 2>/dev/null || true ;;
    1f8b*) payload "$length" | gzip -dc 2>/dev/null || true ;;
    fd377a58) payload "$length" | xz -dc 2>/dev/null || true ;;
  esac
}
direct_key=$( { hash_files "$here/build.sh" "$out/vmlinuz"; } | sha256sum | cut -d' ' -f1)
if ! stamp_ok "$out/.direct.stamp" "$direct_key" || [ ! -f "$out/vmlinux" ]; then
  unpack_kernel "$out/vmlinuz" >"$out/vmlinux.tmp"
  # PVH's entry point is the ELF note XEN_ELFNOTE_PHYS32_ENTRY (type 0x12); without it QEMU needs the bzImage.
  if readelf -n "$out/vmlinux.tmp" 2>/dev/null | grep -q 'type: (0x00000012)'; then
    mv "$out/vmlinux.tmp" "$out/vmlinux"
  else
    log "the kernel has no PVH entry point: QEMU boots the bzImage"
    rm -f "$out/vmlinux.tmp"
    cp "$out/vmlinuz" "$out/vmlinux"
  fi
  touch -d "@$SOURCE_DATE_EPOCH" "$out/vmlinux"
  echo "$direct_key" >"$out/.direct.stamp"
fi

# --- bootstrap.iso ----------------------------------------------------------------------------
isolinux_bin=/usr/lib/ISOLINUX/isolinux.bin
ldlinux=/usr/lib/syslinux/modules/bios/ldlinux.c32
iso_key=$( { echo "$iso_cmdline $SOURCE_DATE_EPOCH"; xorriso -version 2>/dev/null | head -1
  hash_files "$here/build.sh" "$here/make-iso.sh" "$out/vmlinuz" "$out/initramfs.img" "$isolinux_bin" "$ldlinux"; } | sha256sum | cut -d' ' -f1)
if ! stamp_ok "$out/.iso.stamp" "$iso_key" || [ ! -f "$out/bootstrap.iso" ]; then
  "$here/make-iso.sh" "$out/vmlinuz" "$out/initramfs.img" "$iso_cmdline" VIC_BOOTSTRAP "$out/bootstrap.iso"
  echo "$iso_key" >"$out/.iso.stamp"
fi

# --- sizes ----------------------------------------------------------------------------------
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
size() { stat -c %s "$1"; }
echo "vmlinuz        $(mib "$(size "$out/vmlinuz")")  ($release)"
echo "initramfs.img  $(mib "$(size "$out/initramfs.img")")  ($compress; $(mib "$(cat "$out/.initramfs.uncompressed" 2>/dev/null || echo 0)") unpacked; tether $(mib "$(du -sb --apparent-size "$tether_dir" | cut -f1)") from ${tether_dir#"$repo/"}; ${#order[@]} modules)"
echo "bootstrap.iso  $(mib "$(size "$out/bootstrap.iso")")  ($out/bootstrap.iso)"
echo "vmlinux        $(mib "$(size "$out/vmlinux")"), initramfs.cpio $(mib "$(size "$out/initramfs.cpio")")  (QEMU's direct boot)"
