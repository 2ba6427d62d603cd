/**
 * The QEMU command line, as a pure function of what the steps decided, and Packer's `qemuargs`
 * merge: a switch the user gives replaces every kiln entry with the same switch.
 */
import type { Accel } from "./state.js";

export interface VmDisk {
  path: string;
  format: string;
  /** The QEMU block node on top of it, once kiln put one there itself (a checkpoint's overlay). */
  node?: string;
}

export interface VmConfig {
  name: string;
  machineType: string;
  accel: Accel;
  memoryMiB: number;
  cpus: number;
  sockets?: number;
  cores?: number;
  threads?: number;
  cpuModel?: string;
  disks: VmDisk[];
  diskInterface: string;
  diskCache: string;
  diskDiscard: string;
  diskDetectZeroes: string;
  /** The installer ISO (not with disk_image). */
  installIso?: string;
  /** The cd_files/cd_content ISO. */
  cdIso?: string;
  /** The floppy_files/floppy_dirs/floppy_content image (raw, 1.44 MB). */
  floppy?: string;
  /** vtpm: swtpm's control socket and the TPM device model. */
  tpm?: { socket: string; device: string };
  /** Boot once from the CD (installer), else from the disk. */
  bootFromCd: boolean;
  net:
    | { kind: "user"; hostPort?: number; guestPort: number; hostAddress?: string }
    | { kind: "bridge"; bridge: string };
  netDevice: string;
  qmpSocket: string;
  /** A second QMP socket for the user (qmp_enable / qmp_socket_path); kiln's own stays connected. */
  userQmpSocket?: string;
  serialLog: string;
  /** -display value; "none" unless the user asked for a window; undefined passes none (use_default_display). */
  display?: string;
  /** -vga value. */
  vga?: string;
  /** How the ISO and CD are attached: ide (default), scsi, virtio or virtio-scsi. */
  cdromInterface?: string;
  /** Give `firmware` as a pflash drive instead of -bios. */
  pflash?: boolean;
  /** -vnc value such as 127.0.0.1:5 (display number), when a VNC server is wanted. */
  vnc?: string;
  firmware?: string;
  efi?: { code: string; vars: string };
}

/** Entries such as ["-m", "512M"]; each begins with its switch. */
export type ArgEntry = string[];

function driveOpts(o: Record<string, string | undefined>): string {
  return Object.entries(o)
    .filter(([, v]) => v !== undefined && v !== "")
    .map(([k, v]) => `${k}=${String(v).replace(/,/g, ",,")}`)
    .join(",");
}

/** kiln's own QEMU arguments for a VM, before qemuargs. */
export function defaultArgs(c: VmConfig): ArgEntry[] {
  const out: ArgEntry[] = [];
  out.push(["-name", c.name]);
  out.push(["-machine", `type=${c.machineType},accel=${c.accel === "none" ? "tcg" : c.accel}`]);
  if (c.cpuModel) out.push(["-cpu", c.cpuModel]);
  out.push(["-m", `${c.memoryMiB}M`]);
  const smp = [String(c.cpus)];
  if (c.sockets) smp.push(`sockets=${c.sockets}`);
  if (c.cores) smp.push(`cores=${c.cores}`);
  if (c.threads) smp.push(`threads=${c.threads}`);
  out.push(["-smp", smp.join(",")]);

  const common = {
    cache: c.diskCache,
    discard: c.diskDiscard,
    "detect-zeroes": c.diskDetectZeroes,
  };
  let scsiController = false;
  let ahci = false;
  c.disks.forEach((d, i) => {
    const id = `drive${i}`;
    switch (c.diskInterface) {
      case "virtio-scsi":
        if (!scsiController) {
          out.push(["-device", "virtio-scsi-pci,id=scsi0"]);
          scsiController = true;
        }
        out.push(["-device", `scsi-hd,bus=scsi0.0,drive=${id}`]);
        out.push(["-drive", driveOpts({ if: "none", file: d.path, id, format: d.format, ...common })]);
        break;
      case "sata":
        if (!ahci) {
          out.push(["-device", "ahci,id=ahci0"]);
          ahci = true;
        }
        out.push(["-device", `ide-hd,bus=ahci0.${i},drive=${id}`]);
        out.push(["-drive", driveOpts({ if: "none", file: d.path, id, format: d.format, ...common })]);
        break;
      default:
        out.push([
          "-drive",
          driveOpts({
            file: d.path,
            if: c.diskInterface,
            ...(c.diskInterface === "ide" ? { index: String(i) } : {}),
            format: d.format,
            ...common,
          }),
        ]);
    }
  });
  // CDs on the IDE bus (or q35's AHCI ports) by default, after the disks: index 2 and 3 unless IDE
  // disks took them; cdrom_interface puts them on SCSI, virtio or a virtio-scsi controller.
  let cdIndex = c.diskInterface === "ide" ? Math.max(2, c.disks.length) : 2;
  const cdIf = c.cdromInterface ?? "ide";
  [c.installIso, c.cdIso].forEach((iso, k) => {
    if (!iso) return;
    if (cdIf === "virtio-scsi") {
      if (!scsiController) {
        out.push(["-device", "virtio-scsi-pci,id=scsi0"]);
        scsiController = true;
      }
      out.push(["-device", `scsi-cd,bus=scsi0.0,drive=cdrom${k}`]);
      out.push([
        "-drive",
        driveOpts({ if: "none", id: `cdrom${k}`, file: iso, media: "cdrom", format: "raw", readonly: "on" }),
      ]);
      return;
    }
    out.push([
      "-drive",
      driveOpts({
        file: iso,
        media: "cdrom",
        if: cdIf,
        ...(cdIf === "ide" ? { index: String(cdIndex++) } : {}),
        format: "raw",
        readonly: "on",
      }),
    ]);
  });
  // The first floppy drive (an ISA floppy controller; QEMU adds one on q35 too when a floppy is given).
  if (c.floppy) out.push(["-drive", driveOpts({ file: c.floppy, if: "floppy", index: "0", format: "raw" })]);
  out.push(["-boot", c.bootFromCd ? "once=d" : "c"]);

  if (c.net.kind === "user") {
    const fwd =
      c.net.hostPort !== undefined
        ? `,hostfwd=tcp:${c.net.hostAddress ?? "127.0.0.1"}:${c.net.hostPort}-:${c.net.guestPort}`
        : "";
    out.push(["-netdev", `user,id=user.0${fwd}`]);
  } else {
    out.push(["-netdev", `bridge,id=user.0,br=${c.net.bridge}`]);
  }
  out.push(["-device", `${c.netDevice},netdev=user.0`]);

  if (c.firmware && c.pflash)
    out.push(["-drive", driveOpts({ if: "pflash", format: "raw", readonly: "on", file: c.firmware })]);
  else if (c.firmware) out.push(["-bios", c.firmware]);
  if (c.tpm) {
    out.push(["-chardev", `socket,${driveOpts({ id: "chrtpm", path: c.tpm.socket })}`]);
    out.push(["-tpmdev", "emulator,id=tpm0,chardev=chrtpm"]);
    out.push(["-device", `${c.tpm.device},tpmdev=tpm0`]);
  }
  if (c.efi) {
    out.push(["-drive", driveOpts({ if: "pflash", format: "raw", readonly: "on", file: c.efi.code })]);
    out.push(["-drive", driveOpts({ if: "pflash", format: "raw", file: c.efi.vars })]);
  }
  out.push(["-qmp", `unix:${c.qmpSocket},server=on,wait=off`]);
  if (c.userQmpSocket) out.push(["-qmp", `unix:${c.userQmpSocket},server=on,wait=off`]);
  out.push(["-serial", `file:${c.serialLog}`]);
  if (c.vga) out.push(["-vga", c.vga]);
  if (c.display !== undefined) out.push(["-display", c.display]);
  if (c.vnc) out.push(["-vnc", c.vnc]);
  return out;
}

/**
 * Packer's qemuargs semantics: every switch that appears in `user` removes all of kiln's
 * entries with that switch; the user's entries are appended in their order.
 */
export function mergeQemuArgs(defaults: ArgEntry[], user: ArgEntry[] | undefined): ArgEntry[] {
  if (!user?.length) return defaults;
  const replaced = new Set(user.map((e) => e[0]).filter((s): s is string => !!s));
  return [...defaults.filter((e) => !replaced.has(e[0] as string)), ...user];
}

export function flattenArgs(entries: ArgEntry[]): string[] {
  return entries.flat();
}

/** A command line for messages, shell-quoted where needed. */
export function formatCommand(bin: string, args: string[]): string {
  const q = (s: string) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`);
  return [bin, ...args].map(q).join(" ");
}
