#!/bin/sh
# Finds a volume labelled cidata (ISO 9660 or vfat, NoCloud), mounts it read-only
# and applies meta-data + user-data once per instance-id (see README.md).
. /etc/kiln/apply.sh
dev=""
# modprobe in rcS waits for ATA/SCSI probing; retry briefly only while a CD-ROM exists.
i=0
while [ $i -lt 20 ]; do
  dev="$(findfs LABEL=cidata 2>/dev/null || findfs LABEL=CIDATA 2>/dev/null)"
  [ -n "$dev" ] && break
  ls -d /sys/block/sr* >/dev/null 2>&1 || break
  sleep 0.1
  i=$((i + 1))
done
[ -n "$dev" ] || { echo "KILN-CIDATA: none"; exit 0; }
mkdir -p /run/cidata
mount -o ro "$dev" /run/cidata || { echo "KILN-CIDATA: cannot mount $dev"; exit 0; }
: >/run/cidata.norm
for f in meta-data user-data; do
  [ -f /run/cidata/$f ] && awk -f /etc/kiln-config.awk /run/cidata/$f >>/run/cidata.norm
done
iid="$(awk -F'\t' '$1 == "instance_id" { v = $2 } END { print v }' /run/cidata.norm)"
[ -n "$iid" ] || iid="sha-$(cat /run/cidata/meta-data /run/cidata/user-data 2>/dev/null | sha256sum | cut -c1-16)"
if [ "$(cat /var/lib/kiln/instance-id 2>/dev/null)" = "$iid" ]; then
  echo "KILN-CIDATA: $dev instance $iid already applied"
else
  kiln_apply /run/cidata.norm /
  hostname -F /etc/hostname
  mkdir -p /var/lib/kiln
  echo "$iid" >/var/lib/kiln/instance-id
  echo "KILN-CIDATA: applied $dev instance $iid ($(cut -f1 /run/cidata.norm | sort | uniq -c | tr -s ' \n' ' '))"
fi
umount /run/cidata
exit 0
