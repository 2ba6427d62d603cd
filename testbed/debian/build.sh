#!/usr/bin/env bash
# Builds kiln's Debian 12 test image — a generic-cloud style disk (BIOS GRUB, one ext4
# partition, systemd, cloud-init with NoCloud only, OpenSSH) — from Debian packages only
# (see README.md). No mounts, no loop devices: mmdebstrap writes a directory, mkfs.ext4 -d fills
# the partition from it, GRUB's boot.img and core.img go into the MBR and the gap after it.
# Runs as root (mmdebstrap's root mode keeps file owners in the directory).
#
#   build.sh            build into the cache unless the result is already there
#   build.sh --force    rebuild even if cached
#
# Cache: $KILN_DEBIAN_CACHE or ~/.cache/kiln/debian, one directory per content hash of this
# script + guest/ (debs/ keeps the downloaded packages for the next build). On success the last lines on stdout are `name=path` pairs (cache_dir,
# disk); everything else goes to stderr.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE_ROOT="${KILN_DEBIAN_CACHE:-${HOME:-/root}/.cache/kiln/debian}"
MIRROR="${KILN_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SECURITY_MIRROR="${KILN_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
DISK_SIZE=2G
FORCE=0
[[ "${1:-}" == "--force" ]] && FORCE=1

log() { echo "[debian] $*" >&2; }
die() {
  echo "[debian] ERROR: $*" >&2
  exit 1
}

for tool in mmdebstrap mkfs.ext4 sfdisk qemu-img sha256sum flock; do
  command -v "$tool" >/dev/null 2>&1 ||
    die "missing host tool '$tool' (apt-get install mmdebstrap e2fsprogs fdisk qemu-utils util-linux)"
done

# Packages beyond the `apt` variant (essential + apt). No Recommends (so no libpam-systemd:
# SSH logins are no logind sessions and start no `systemd --user`, 3 s less per first login).
PACKAGES=(systemd systemd-sysv systemd-resolved udev dbus linux-image-cloud-amd64
  initramfs-tools zstd grub-pc-bin cloud-init cloud-guest-utils fdisk openssh-server python3
  qemu-guest-agent sudo passwd iproute2 netbase procps)

key="$( {
  cat "$HERE/build.sh"
  (cd "$HERE/guest" && find . -type f | LC_ALL=C sort | xargs cat)
} | sha256sum | cut -c1-16)"
OUT="$CACHE_ROOT/$key"

print_result() {
  echo "cache_dir=$OUT"
  echo "disk=$OUT/debian.qcow2"
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
trap 'rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM # so the EXIT trap runs on Ctrl-C and kill too
UUID="$(cat /proc/sys/kernel/random/uuid)"

# ---------------------------------------------------------------- root file system
DEBS="$CACHE_ROOT/debs"
mkdir -p "$DEBS"
log "mmdebstrap bookworm (${PACKAGES[*]})"
t0=$(date +%s)
nice -n 10 mmdebstrap --quiet --variant=apt --format=directory --skip=essential/unlink \
  --include="$(IFS=,; echo "${PACKAGES[*]}")" \
  --aptopt='APT::Install-Recommends "false"' \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-include=/usr/share/locale/locale.alias' \
  --setup-hook='mkdir -p "$1/var/cache/apt/archives"' \
  --setup-hook="sync-in '$DEBS' /var/cache/apt/archives/" \
  --essential-hook='mkdir -p "$1/etc/initramfs-tools/conf.d" "$1/etc/initramfs-tools/hooks"' \
  --essential-hook="echo MODULES=list >\"\$1/etc/initramfs-tools/conf.d/kiln\"" \
  --essential-hook="install -m 0755 '$HERE/guest/initramfs-hook' \"\$1/etc/initramfs-tools/hooks/kiln\"" \
  --customize-hook="sh '$HERE/guest/customize.sh' \"\$1\" '$UUID' '$WORK'" \
  --customize-hook="find '$DEBS' -name '*.deb' -delete" \
  --customize-hook="sync-out /var/cache/apt/archives '$DEBS'" \
  bookworm "$WORK/root" \
  "deb $MIRROR bookworm main" "deb $MIRROR bookworm-updates main" \
  "deb $SECURITY_MIRROR bookworm-security main" >&2
log "mmdebstrap: $(($(date +%s) - t0))s"

# ---------------------------------------------------------------- disk
# MBR, one bootable Linux partition from 1 MiB to the end; GRUB's core.img lives in the gap.
t0=$(date +%s)
RAW="$WORK/disk.raw"
truncate -s "$DISK_SIZE" "$RAW"
echo 'label: dos
start=2048, type=83, bootable' | sfdisk --quiet "$RAW" >&2
read -r part_start part_sectors < <(sfdisk --dump "$RAW" | sed -nE 's/.*start= *([0-9]+), size= *([0-9]+).*/\1 \2/p')
[[ "$part_start" == 2048 && -n "$part_sectors" ]] || die "unexpected partition table: $(sfdisk --dump "$RAW")"
mkfs.ext4 -q -F -L debian-root -U "$UUID" -E "offset=$((part_start * 512))" -d "$WORK/root" \
  "$RAW" "$((part_sectors / 2))k" >&2
# boot.img's first 440 bytes (the partition table and disk id after them stay); core.img from
# sector 1 (boot.img loads sector 1, whose block list — set by grub-mkimage — loads the rest).
core_sectors=$((($(stat -c %s "$WORK/core.img") + 511) / 512))
((core_sectors < part_start)) || die "core.img ($core_sectors sectors) does not fit before the partition"
dd if="$WORK/boot.img" of="$RAW" bs=440 count=1 conv=notrunc status=none
dd if="$WORK/core.img" of="$RAW" bs=512 seek=1 conv=notrunc status=none
nice -n 10 qemu-img convert -c -O qcow2 "$RAW" "$WORK/debian.qcow2"
log "disk: $(($(date +%s) - t0))s, $(du -h "$WORK/debian.qcow2" | cut -f1) compressed"

# ---------------------------------------------------------------- publish
rm -rf "$OUT"
mkdir -p "$OUT"
mv "$WORK/debian.qcow2" "$OUT/"
awk '/^Package:/{p=$2} /^Version:/{print p"="$2}' "$WORK/root/var/lib/dpkg/status" >"$OUT/packages.txt"
# keep only the .debs of this build in the package cache
for f in "$DEBS"/*.deb; do
  b="$(basename "$f" .deb)"
  grep -qxF "${b%%_*}=$(sed 's/%3a/:/' <<<"${b#*_}" | sed 's/_[^_]*$//')" "$OUT/packages.txt" || rm -f "$f"
done
touch "$OUT/.complete"
log "built in $(($(date +%s) - START))s"
print_result
