/** The machine QEMU runs, as a pure function of the options and what the earlier steps made. */

import { resolve } from "node:path";
import type { VmConfig, VmDisk } from "./args.js";
import { displayOf, machineType } from "./defaults.js";
import type { QemuOptions } from "./schema.js";
import type { Accel } from "./state.js";

/** What the steps before the launch made or decided. */
export interface VmFacts {
  name: string;
  accel: Accel;
  disks: VmDisk[];
  /** The downloaded ISO or disk image (the ISO is attached as a CD-ROM unless disk_image). */
  source?: string;
  cdIso?: string;
  floppy?: string;
  tpm?: { socket: string; device: string };
  hostPort?: number;
  vnc?: string;
  efi?: { code: string; vars: string };
  qmpSocket: string;
  userQmpSocket?: string;
  serialLog: string;
  /** The build file's folder: relative firmware paths start there. */
  baseDir: string;
}

export function vmConfig(o: QemuOptions, f: VmFacts): VmConfig {
  return {
    name: f.name,
    machineType: machineType(o),
    accel: f.accel,
    memoryMiB: o.memory,
    cpus: o.cpus,
    ...(o.sockets ? { sockets: o.sockets } : {}),
    ...(o.cores ? { cores: o.cores } : {}),
    ...(o.threads ? { threads: o.threads } : {}),
    ...(o.cpu_model ? { cpuModel: o.cpu_model } : {}),
    disks: f.disks,
    diskInterface: o.disk_interface,
    diskCache: o.disk_cache,
    diskDiscard: o.disk_discard,
    diskDetectZeroes: o.disk_detect_zeroes,
    ...(!o.disk_image && f.source ? { installIso: f.source } : {}),
    ...(f.cdIso ? { cdIso: f.cdIso } : {}),
    ...(f.floppy ? { floppy: f.floppy } : {}),
    ...(f.tpm ? { tpm: f.tpm } : {}),
    bootFromCd: !o.disk_image,
    net: o.net_bridge
      ? { kind: "bridge", bridge: o.net_bridge }
      : { kind: "user", ...(f.hostPort ? { hostPort: f.hostPort } : {}), guestPort: o.ssh_port },
    netDevice: o.net_device,
    qmpSocket: f.qmpSocket,
    ...(f.userQmpSocket ? { userQmpSocket: f.userQmpSocket } : {}),
    serialLog: f.serialLog,
    ...(displayOf(o) !== undefined ? { display: displayOf(o) } : {}),
    ...(o.vga ? { vga: o.vga } : {}),
    ...(o.cdrom_interface ? { cdromInterface: o.cdrom_interface } : {}),
    ...(o.use_pflash ? { pflash: true } : {}),
    ...(f.vnc ? { vnc: f.vnc } : {}),
    ...(o.firmware ? { firmware: resolve(f.baseDir, o.firmware) } : {}),
    ...(f.efi ? { efi: f.efi } : {}),
  };
}
