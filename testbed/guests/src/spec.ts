/** What a guest is made of: the caller's description, before the runner starts QEMU. */
import type { Forward } from "./ports.js";
import type { NoCloudSeed } from "./seed.js";

export type DiskBus = "virtio" | "scsi" | "sata" | "ide";

export interface DiskSpec {
  /** The disk or ISO file on the host, used in place (written to, unless readOnly or overlay). */
  file?: string;
  /** Image format; default: what `qemu-img info` finds. */
  format?: string;
  /** Default "disk"; a "cdrom" without `file` is an empty drive. */
  media?: "disk" | "cdrom";
  /** Default "virtio" (disks) / "ide" (CD-ROMs on `pc`, "scsi" on `q35`). */
  bus?: DiskBus;
  /** Unit on its bus (IDE: 0-3 → ide.0/ide.1 master/slave; SCSI id; SATA port); default: next free. */
  unit?: number;
  /** QEMU device id, for detachDisk; default `disk<N>`. */
  id?: string;
  readOnly?: boolean;
  /** Boot a throwaway qcow2 overlay on `file` instead (made in the run dir, removed when the guest ends). */
  overlay?: boolean;
  /** Firmware boot order: lower first. */
  bootIndex?: number;
  /** Serial number the guest sees (virtio-blk / scsi-hd / ide-hd). */
  serial?: string;
}

export interface NicSpec {
  /** QEMU device model; default virtio-net-pci (the test images have no other NIC driver). */
  model?: string;
  /** Default: 52:54:00 + three bytes from the guest's address. */
  mac?: string;
  bootIndex?: number;
}

export interface GuestSpec {
  /** Unique among the runner's guests; in QEMU's -name and the run dir's file names. */
  name: string;
  /** Default 512. */
  memoryMiB?: number;
  /** Default 1. */
  cpus?: number;
  /** Default "pc". */
  machine?: "pc" | "q35";
  /** Default "bios" (SeaBIOS); "uefi" uses /usr/share/ovmf/OVMF.fd. */
  firmware?: "bios" | "uefi";
  disks?: DiskSpec[];
  /** SCSI controller for `bus: "scsi"` disks; default virtio-scsi-pci. */
  scsiController?: "virtio-scsi-pci" | "lsi53c895a" | "megasas";
  /** Default one virtio NIC. The first NIC carries the forwards; [] for no network. */
  nics?: NicSpec[];
  /**
   * Guest TCP ports reachable on the guest's address (default [22]): the same port there when
   * free, else another; `{ guest, host }` names the host port.
   */
  forward?: (number | Forward)[];
  /** A 127.x.y.z the caller owns (e.g. kept across a server's stop/start); default: one from the runner's pool. */
  address?: string;
  /** A NoCloud seed, written to an ISO in the run dir and attached read-only. */
  seed?: NoCloudSeed;
  /** "cdrom" (IDE on pc, default there) or "virtio" (a read-only virtio disk, default on q35). */
  seedDevice?: "cdrom" | "virtio";
  /** The qemu-guest-agent channel (virtio-serial org.qemu.guest_agent.0); default true. */
  agent?: boolean;
  /** Default "std" VGA (screendumps, sendkey at a boot prompt); "none" for no display device. */
  vga?: "std" | "none";
  /** More QEMU arguments, appended. */
  extraArgs?: string[];
}
