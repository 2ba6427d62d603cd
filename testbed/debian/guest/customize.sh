#!/bin/sh
# Runs as mmdebstrap's customize hook: $1 = the new root, $2 = the root file system's UUID,
# $3 = a folder to put GRUB's boot.img and core.img in (written into the disk by build.sh).
set -eu
R="$1" UUID="$2" OUT="$3" HERE="$(dirname "$0")"

# cloud-init: NoCloud only, few modules (95-kiln.cfg); networkd does DHCP.
install -m 0644 "$HERE/95-kiln.cfg" "$R/etc/cloud/cloud.cfg.d/95-kiln.cfg"
install -m 0644 "$HERE/50-dhcp.network" "$R/etc/systemd/network/50-dhcp.network"
chroot "$R" systemctl enable -q systemd-networkd.service systemd-resolved.service
ln -sf ../run/systemd/resolve/stub-resolv.conf "$R/etc/resolv.conf"
mkdir -p "$R/etc/systemd/system/systemd-networkd-wait-online.service.d"
cat >"$R/etc/systemd/system/systemd-networkd-wait-online.service.d/kiln.conf" <<'UNIT'
[Service]
ExecStart=
ExecStart=/lib/systemd/systemd-networkd-wait-online --any --timeout=20
UNIT
mkdir -p "$R/etc/systemd/system.conf.d"
cat >"$R/etc/systemd/system.conf.d/kiln.conf" <<'CONF'
[Manager]
ShowStatus=no
DefaultTimeoutStartSec=60s
DefaultTimeoutStopSec=10s
CONF

# What a build machine does not need (generic-cloud style): timers, a VGA getty, API file
# systems nobody uses, module preloading, the interactive first-boot wizard (it would wait for
# a key press on the console when a template's machine-id was removed).
for u in apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer \
  e2scrub_reap.service fstrim.timer man-db.timer getty@tty1.service \
  dev-hugepages.mount dev-mqueue.mount sys-kernel-debug.mount sys-kernel-tracing.mount \
  sys-kernel-config.mount sys-fs-fuse-connections.mount proc-sys-fs-binfmt_misc.automount \
  systemd-binfmt.service kmod-static-nodes.service modprobe@.service systemd-pstore.service \
  systemd-firstboot.service; do
  ln -sf /dev/null "$R/etc/systemd/system/$u"
done
# cloud-init's local stage applies network config before networking starts; this image brings
# its own (networkd DHCP), so the network stage alone finds the NoCloud seed: one Python
# start-up (~5 s under TCG) less before SSH.
ln -sf /dev/null "$R/etc/systemd/system/cloud-init-local.service"
# cloud-init's config and final stages start when SSH does: run them only on CPU time nobody
# else wants, so the builder's SSH login and provisioning are not slowed down by them.
for u in cloud-config.service cloud-final.service; do
  mkdir -p "$R/etc/systemd/system/$u.d"
  printf '[Service]\nNice=19\nCPUSchedulingPolicy=idle\n' >"$R/etc/systemd/system/$u.d/kiln.conf"
done
# Key logins only (set here, so cloud-init never restarts sshd under a connecting builder).
echo "PasswordAuthentication no" >"$R/etc/ssh/sshd_config.d/50-kiln.conf"

# The disk: one ext4 partition (no fsck at boot), GRUB (BIOS) reading /vmlinuz and /initrd.img, which the
# kernel packages keep pointing at the newest kernel.
echo "UUID=$UUID / ext4 rw,discard,errors=remount-ro 0 0" >"$R/etc/fstab"
mkdir -p "$R/boot/grub"
cp -r "$R/usr/lib/grub/i386-pc" "$R/boot/grub/"
cat >"$R/boot/grub/grub.cfg" <<CFG
set timeout=0
serial --unit=0 --speed=115200
terminal_input console serial
terminal_output console serial
search --no-floppy --fs-uuid --set=root $UUID
linux /vmlinuz root=UUID=$UUID ro console=tty0 console=ttyS0,115200 quiet systemd.show_status=false mitigations=off cryptomgr.notests initcall_blacklist=init_kprobe_trace
initrd /initrd.img
boot
CFG
chroot "$R" grub-mkimage -O i386-pc -o /tmp/core.img -p "(hd0,msdos1)/boot/grub" \
  biosdisk part_msdos ext2 search_fs_uuid normal linux serial terminal echo test
mv "$R/tmp/core.img" "$OUT/core.img"
cp "$R/usr/lib/grub/i386-pc/boot.img" "$OUT/boot.img"

# A template has no identity: no machine id, no SSH host keys (cloud-init makes them), no logs.
rm -f "$R"/etc/ssh/ssh_host_* "$R/var/lib/dbus/machine-id"
: >"$R/etc/machine-id"
echo debian >"$R/etc/hostname"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$R/etc/hosts"
rm -rf "$R"/var/lib/apt/lists/* "$R"/var/cache/apt/*.bin "$R"/var/log/*.log
