#!/usr/bin/env bash
# Builds the kiln test appliance from Debian packages only (see README.md).
#
#   build.sh            build into the cache unless the result is already there
#   build.sh --force    rebuild even if cached
#
# Cache: $KILN_APPLIANCE_CACHE or ~/.cache/kiln/appliance, one directory per
# content hash of (this script + guest/ + package versions). On success the last
# lines on stdout are `name=path` pairs (cache_dir, installer_iso, disk, kernel,
# initrd, installer_initrd); everything else goes to stderr.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE_ROOT="${KILN_APPLIANCE_CACHE:-${HOME:-/root}/.cache/kiln/appliance}"
FORCE=0
[[ "${1:-}" == "--force" ]] && FORCE=1

log() { echo "[appliance] $*" >&2; }
die() { echo "[appliance] ERROR: $*" >&2; exit 1; }

for tool in apt-get apt-cache dpkg-deb xorriso qemu-img qemu-system-x86_64 gzip sha256sum flock; do
  command -v "$tool" >/dev/null 2>&1 || die "missing host tool '$tool' (apt-get install qemu-system-x86 qemu-utils xorriso util-linux)"
done

# ---------------------------------------------------------------- inputs
# Packages whose files end up in the images. The kernel metapackage is resolved
# to the concrete linux-image-<abi>-cloud-amd64 package.
KERNEL_META=linux-image-cloud-amd64
OTHER_PKGS=(busybox-static dropbear-bin libc6 libcrypt1 zlib1g libtomcrypt1 libtommath1 libgmp10
  extlinux isolinux syslinux-common openssh-sftp-server)
# One apt-cache call (each one costs ~1 s): candidate versions of everything, and
# the metapackage's "Depends: linux-image-<abi>-cloud-amd64 (= <version>)".
pkginfo="$(apt-cache show --no-all-versions "$KERNEL_META" "${OTHER_PKGS[@]}" 2>/dev/null)" ||
  die "apt-cache show failed (run apt-get update first)"
kernel_dep="$(awk -v m="$KERNEL_META" '/^Package:/{p=$2} p==m && /^Depends:/{print; exit}' <<<"$pkginfo" |
  grep -oE 'linux-image-[0-9][^ ,]*-cloud-amd64 \(= [^)]+\)' | head -1)"
[[ -n "$kernel_dep" ]] || die "cannot resolve $KERNEL_META (run apt-get update first)"
kernel_pkg="${kernel_dep%% *}"
kernel_ver="$(sed -E 's/.*\(= ([^)]+)\)/\1/' <<<"$kernel_dep")"
PKGS=("$kernel_pkg" "${OTHER_PKGS[@]}")
versions="$kernel_pkg=$kernel_ver"$'\n'
for p in "${OTHER_PKGS[@]}"; do
  v="$(awk -v m="$p" '/^Package:/{p=$2} p==m && /^Version:/{print $2; exit}' <<<"$pkginfo")"
  [[ -n "$v" ]] || die "no candidate version for $p (run apt-get update first)"
  versions+="$p=$v"$'\n'
done

key="$( { cat "$HERE/build.sh"; (cd "$HERE/guest" && find . -type f | LC_ALL=C sort | xargs cat); echo "$versions"; } \
  | sha256sum | cut -c1-16)"
OUT="$CACHE_ROOT/$key"

print_result() {
  echo "cache_dir=$OUT"
  echo "installer_iso=$OUT/installer.iso"
  echo "disk=$OUT/disk.qcow2"
  echo "kernel=$OUT/vmlinuz"
  echo "initrd=$OUT/initrd.gz"
  echo "installer_initrd=$OUT/installer-initrd.gz"
}

mkdir -p "$CACHE_ROOT"
if [[ $FORCE == 0 && -f "$OUT/.complete" ]]; then
  print_result
  exit 0
fi

# One build at a time per cache (parallel test workers may all ask at once).
exec 9>"$CACHE_ROOT/.lock"
flock 9
if [[ $FORCE == 0 && -f "$OUT/.complete" ]]; then
  print_result
  exit 0
fi

START=$(date +%s)
WORK="$(mktemp -d "$CACHE_ROOT/.build.XXXXXX")"
QEMU_PID=""
HTTPD_PID=""
cleanup() {
  [[ -n "$QEMU_PID" ]] && kill "$QEMU_PID" 2>/dev/null || true
  [[ -n "$HTTPD_PID" ]] && kill "$HTTPD_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# ---------------------------------------------------------------- download
DEBS="$CACHE_ROOT/debs"
mkdir -p "$DEBS"
log "packages:"$'\n'"$versions"
for p in "${PKGS[@]}"; do
  v="$(grep "^$p=" <<<"$versions" | cut -d= -f2-)"
  if ! ls "$DEBS/${p}_"*.deb >/dev/null 2>&1 || ! dpkg-deb -f "$(ls "$DEBS/${p}_"*.deb | head -1)" Version | grep -qxF "$v"; then
    rm -f "$DEBS/${p}_"*.deb
    (cd "$DEBS" && apt-get download -q "$p=$v" >&2 2>/dev/null) || (cd "$DEBS" && apt-get download "$p=$v" >&2)
  fi
done
X="$WORK/x"
mkdir -p "$X"
for p in "${PKGS[@]}"; do
  dpkg-deb -x "$(ls "$DEBS/${p}_"*.deb | head -1)" "$X"
done
BB="$X/bin/busybox" # static; also used on the host for cpio/depmod/httpd
KVER="$(ls "$X/lib/modules" | head -1)"

# ---------------------------------------------------------------- kernel modules
# Only what QEMU's virtio/IDE/ACPI devices need. ext4 (and ext2 via ext4) is built in.
MODS=(virtio_pci virtio_blk virtio_net virtio_scsi sd_mod ata_piix sr_mod isofs vfat nls_cp437 nls_ascii
  nls_utf8 nls_iso8859-1 button evdev)
"$BB" depmod -b "$X" "$KVER"
MODTREE="$WORK/modtree"
mkdir -p "$MODTREE/lib/modules/$KVER"
declare -A seen=()
add_mod() {
  local name="$1" line path dep
  line="$(grep -E "(^|/)${name}\.ko(\.[a-z]+)?:" "$X/lib/modules/$KVER/modules.dep" | head -1)" || true
  [[ -n "$line" ]] || die "module $name not found in $KVER"
  path="${line%%:*}"
  [[ -n "${seen[$path]:-}" ]] && return 0
  seen[$path]=1
  for dep in ${line#*:}; do add_mod "$(basename "${dep%%.ko*}")"; done
  mkdir -p "$MODTREE/lib/modules/$KVER/$(dirname "$path")"
  cp "$X/lib/modules/$KVER/$path" "$MODTREE/lib/modules/$KVER/$path"
}
for m in "${MODS[@]}"; do add_mod "$m"; done
cp "$X/lib/modules/$KVER/modules.builtin" "$X/lib/modules/$KVER/modules.order" "$MODTREE/lib/modules/$KVER/"
"$BB" depmod -b "$MODTREE" "$KVER"

# ---------------------------------------------------------------- base initramfs
# /init + busybox + modules: stage 1 of the installed system (mounts the root
# disk and switch_roots) and, with the payload appended, the installer.
BASE="$WORK/base"
mkdir -p "$BASE"/{bin,dev,proc,sys,tmp,run,newroot,mnt,etc}
cp "$BB" "$BASE/bin/busybox"
ln -s busybox "$BASE/bin/sh"
cp -a "$MODTREE/lib" "$BASE/"
install -m 0755 "$HERE/guest/init" "$BASE/init"
mkcpio() { (cd "$1" && find . | LC_ALL=C sort | "$BB" cpio -o -H newc 2>/dev/null | gzip -9n); }
mkcpio "$BASE" >"$WORK/initrd.gz"

# ---------------------------------------------------------------- installed rootfs (payload)
ROOT="$WORK/payload/payload/rootfs"
mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run,mnt,root/.ssh,boot/extlinux,var/lib/kiln,var/log,var/run,etc/dropbear,etc/acpi/PWRF,etc/init.d,etc/kiln}
cp "$BB" "$ROOT/bin/busybox"
"$BB" --list-full | while read -r f; do
  [[ "$f" == bin/busybox ]] && continue
  [[ -e "$ROOT/$f" || -L "$ROOT/$f" ]] || ln -s /bin/busybox "$ROOT/$f"
done
cp "$X/usr/sbin/dropbear" "$ROOT/usr/sbin/"
# SFTP for clients that transfer files with it (dropbear runs /usr/lib/sftp-server).
mkdir -p "$ROOT/usr/lib"
cp "$X/usr/lib/openssh/sftp-server" "$ROOT/usr/lib/sftp-server"
cp "$X/usr/bin/dropbearkey" "$X/usr/bin/dbclient" "$X/usr/bin/extlinux" "$ROOT/usr/bin/"
mkdir -p "$ROOT/lib/x86_64-linux-gnu" "$ROOT/lib64" "$ROOT/usr/lib/x86_64-linux-gnu"
for l in ld-linux-x86-64.so.2 libc.so.6 libcrypt.so.1 libz.so.1; do
  cp -L "$X/lib/x86_64-linux-gnu/$l" "$ROOT/lib/x86_64-linux-gnu/$l"
done
for l in libtomcrypt.so.1 libtommath.so.1 libgmp.so.10; do
  cp -L "$X/usr/lib/x86_64-linux-gnu/$l" "$ROOT/usr/lib/x86_64-linux-gnu/$l"
done
ln -s /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$ROOT/lib64/ld-linux-x86-64.so.2"
cp -a "$MODTREE/lib/modules" "$ROOT/lib/"
cp "$X/boot/vmlinuz-$KVER" "$ROOT/boot/vmlinuz"
cp "$WORK/initrd.gz" "$ROOT/boot/initrd.gz"
cp "$X/usr/lib/syslinux/mbr/mbr.bin" "$ROOT/boot/extlinux/mbr.bin"
for c in ldlinux.c32 libcom32.c32 libutil.c32 menu.c32; do
  cp "$X/usr/lib/syslinux/modules/bios/$c" "$ROOT/boot/extlinux/" 2>/dev/null || true
done
install -m 0755 "$HERE/guest/rcS" "$ROOT/etc/init.d/rcS"
install -m 0755 "$HERE/guest/rcK" "$ROOT/etc/init.d/rcK"
install -m 0755 "$HERE/guest/cidata.sh" "$ROOT/etc/init.d/cidata"
install -m 0755 "$HERE/guest/udhcpc.script" "$ROOT/etc/udhcpc.script"
install -m 0644 "$HERE/guest/kiln-config.awk" "$ROOT/etc/kiln-config.awk"
install -m 0644 "$HERE/guest/kiln-apply.sh" "$ROOT/etc/kiln/apply.sh"
install -m 0644 "$HERE/guest/inittab" "$ROOT/etc/inittab"
install -m 0755 "$HERE/guest/power-button" "$ROOT/etc/acpi/PWRF/00000080"
rm -f "$ROOT/sbin/poweroff"
install -m 0755 "$HERE/guest/poweroff" "$ROOT/sbin/poweroff"
install -m 0644 "$HERE/guest/extlinux.conf" "$ROOT/boot/extlinux/extlinux.conf"
cat >"$ROOT/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
sshd:x:74:74:sshd:/var/empty:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$ROOT/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
echo 'root:*:19000:0:99999:7:::' >"$ROOT/etc/shadow"
chmod 0600 "$ROOT/etc/shadow"
printf '/bin/sh\n/bin/ash\n' >"$ROOT/etc/shells"
echo kiln-appliance >"$ROOT/etc/hostname"
printf '127.0.0.1 localhost\n' >"$ROOT/etc/hosts"
printf 'export PATH=/usr/sbin:/usr/bin:/sbin:/bin\nexport PS1="\\h:\\w# "\n' >"$ROOT/etc/profile"
echo "kiln test appliance ($key)" >"$ROOT/etc/kiln/version"
chmod 0700 "$ROOT/root" "$ROOT/root/.ssh"
install -m 0755 "$HERE/guest/install.sh" "$WORK/payload/payload/install.sh"
mkcpio "$WORK/payload" >"$WORK/payload.cpio.gz"
# Linux accepts concatenated compressed cpio archives as one initramfs.
cat "$WORK/initrd.gz" "$WORK/payload.cpio.gz" >"$WORK/installer-initrd.gz"

# ---------------------------------------------------------------- installer ISO
ISO="$WORK/iso"
mkdir -p "$ISO/isolinux" "$ISO/kiln"
cp "$X/usr/lib/ISOLINUX/isolinux.bin" "$ISO/isolinux/"
cp "$X/usr/lib/syslinux/modules/bios/ldlinux.c32" "$ISO/isolinux/"
cp "$X/boot/vmlinuz-$KVER" "$ISO/kiln/vmlinuz"
cp "$WORK/installer-initrd.gz" "$ISO/kiln/initrd.gz"
install -m 0644 "$HERE/guest/isolinux.cfg" "$ISO/isolinux/isolinux.cfg"
xorriso -as mkisofs -quiet -o "$WORK/installer.iso" -V KILN_INSTALLER -J -r \
  -b isolinux/isolinux.bin -c isolinux/boot.cat -no-emul-boot -boot-load-size 4 -boot-info-table \
  -isohybrid-mbr "$X/usr/lib/ISOLINUX/isohdpfx.bin" "$ISO" >&2

# ---------------------------------------------------------------- disk.qcow2
# Run the real installer once: direct kernel boot (no typing needed), config
# served by busybox httpd on the host loopback.
log "installing disk.qcow2 under QEMU TCG"
mkdir -p "$WORK/www"
cat >"$WORK/www/config" <<'EOF'
# default config of the prebuilt disk.qcow2
hostname=kiln-appliance
password=kiln
EOF
PORT=""
for _ in $(seq 1 20); do
  p=$((20000 + RANDOM % 20000))
  "$BB" httpd -f -p "127.0.0.1:$p" -h "$WORK/www" &
  HTTPD_PID=$!
  sleep 0.3
  if kill -0 "$HTTPD_PID" 2>/dev/null; then PORT=$p; break; fi
  HTTPD_PID=""
done
[[ -n "$PORT" ]] || die "could not start busybox httpd"
qemu-img create -q -f qcow2 "$WORK/disk.qcow2" 2G
timeout 600 qemu-system-x86_64 -accel tcg -m 512 -nographic -no-reboot -nodefaults -serial stdio \
  -kernel "$X/boot/vmlinuz-$KVER" -initrd "$WORK/installer-initrd.gz" \
  -append "console=ttyS0,115200 quiet mitigations=off cryptomgr.notests kiln.mode=install url=http://10.0.2.2:$PORT/config" \
  -drive "file=$WORK/disk.qcow2,if=virtio,format=qcow2" \
  -nic "user,model=virtio-net-pci" </dev/null >"$WORK/install.log" 2>&1 &
QEMU_PID=$!
wait "$QEMU_PID" || true
QEMU_PID=""
kill "$HTTPD_PID" 2>/dev/null || true
HTTPD_PID=""
if ! grep -q KILN-INSTALL-DONE "$WORK/install.log"; then
  cat "$WORK/install.log" >&2
  die "installer did not finish"
fi
qemu-img convert -c -O qcow2 "$WORK/disk.qcow2" "$WORK/disk.compact.qcow2"
mv "$WORK/disk.compact.qcow2" "$WORK/disk.qcow2"

# ---------------------------------------------------------------- publish
rm -rf "$OUT"
mkdir -p "$OUT"
for f in installer.iso disk.qcow2 initrd.gz installer-initrd.gz install.log; do mv "$WORK/$f" "$OUT/"; done
cp "$X/boot/vmlinuz-$KVER" "$OUT/vmlinuz"
echo "$versions" >"$OUT/packages.txt"
touch "$OUT/.complete"
log "built in $(($(date +%s) - START))s"
print_result
