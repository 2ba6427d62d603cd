#!/bin/sh
# kiln test appliance installer (runs from the installer initramfs, kiln.mode=install).
# Kernel command line: url=<config URL> [kiln.disk=/dev/vda]
P=/payload
R=$P/rootfs
export PATH=/bin
CMDLINE="$(cat /proc/cmdline)"
echo "KILN-CMDLINE: $CMDLINE"
. $R/etc/kiln/apply.sh

fail() {
  echo "KILN-INSTALL-FAILED: $*"
  echo "dropping to a shell (poweroff -f to quit)"
  exec sh </dev/console >/dev/console 2>&1
}

url=""
disk=/dev/vda
for arg in $CMDLINE; do
  case "$arg" in
    url=*) url="${arg#url=}" ;;
    kiln.url=*) url="${arg#kiln.url=}" ;;
    kiln.disk=*) disk="${arg#kiln.disk=}" ;;
  esac
done
[ -n "$url" ] || fail "no url= on the kernel command line"

modprobe -q virtio_net
ip link set lo up
i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
[ -e /sys/class/net/eth0 ] || fail "no eth0 (the appliance needs a virtio-net NIC)"
udhcpc -i eth0 -q -n -t 10 -T 1 -s $R/etc/udhcpc.script || fail "DHCP failed on eth0"

echo "KILN-FETCH: $url"
i=0
# (busybox-static 1.35 wget segfaults with -T; use timeout instead)
until timeout 10 wget -q -O /tmp/config "$url"; do
  i=$((i + 1))
  [ $i -ge 10 ] && fail "cannot fetch $url"
  sleep 1
done
awk -f $R/etc/kiln-config.awk /tmp/config >/tmp/config.norm || fail "cannot parse the config"
echo "KILN-CONFIG: $(cut -f1 /tmp/config.norm | sort | uniq -c | tr -s ' \n' ' ')"

i=0
while [ ! -b "$disk" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
[ -b "$disk" ] || fail "no disk $disk"

# --- partition: MBR, one bootable Linux partition from 1 MiB to the end
sectors="$(blockdev --getsz "$disk")"
[ "$sectors" -gt 65536 ] || fail "$disk is too small"
start=2048
size=$((sectors - start))
[ $size -gt 4294967295 ] && size=4294967295
le32() { printf "\\$(printf %03o $(($1 & 255)))\\$(printf %03o $((($1 >> 8) & 255)))\\$(printf %03o $((($1 >> 16) & 255)))\\$(printf %03o $((($1 >> 24) & 255)))"; }
dd if=/dev/zero of="$disk" bs=512 count=2048 2>/dev/null
{
  dd if=$R/boot/extlinux/mbr.bin bs=440 count=1 2>/dev/null
  printf '\000\000\000\000\000\000'             # disk signature + reserved (440..445)
  printf '\200\376\377\377\203\376\377\377'     # active, CHS start (LBA), type 0x83, CHS end
  le32 $start
  le32 $size
  dd if=/dev/zero bs=16 count=3 2>/dev/null    # three empty entries
  printf '\125\252'
} >/tmp/mbr
[ "$(wc -c </tmp/mbr)" -eq 512 ] || fail "bad MBR size"
dd if=/tmp/mbr of="$disk" bs=512 count=1 conv=notrunc 2>/dev/null
sync
blockdev --rereadpt "$disk" || fail "cannot re-read the partition table"
part="${disk}1"
i=0
while [ ! -b "$part" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
[ -b "$part" ] || fail "no $part after partitioning"
echo "KILN-PARTITIONED: $part ($((size / 2048)) MiB)"

# --- filesystem (busybox mke2fs makes ext2; the kernel mounts it with its ext4 driver)
mke2fs -q -L kiln-root -i 65536 "$part" >/dev/null || fail "mke2fs failed"
mkdir -p /mnt/target
mount -t ext4 "$part" /mnt/target || fail "cannot mount $part"
T=/mnt/target

# --- system
cp -a $R/. $T/ || fail "copy failed"
kiln_apply /tmp/config.norm $T
cp /tmp/config $T/etc/kiln/install-config
hn="$(cat $T/etc/hostname)"
echo "KILN-INSTALLED: hostname=$hn"

# --- boot loader
$T/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 --library-path $T/lib/x86_64-linux-gnu:$T/usr/lib/x86_64-linux-gnu \
  $T/usr/bin/extlinux --install $T/boot/extlinux >/dev/null 2>&1 || fail "extlinux --install failed"
sync
umount $T || fail "umount failed"
sync
echo "KILN-INSTALL-DONE: rebooting"
reboot -f
