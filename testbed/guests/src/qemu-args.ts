/** The QEMU command line of a guest (pure: the spec with formats resolved and the run paths in, argv out). TCG only. */
import type { Forward } from "./ports.js";
import type { DiskBus, DiskSpec, GuestSpec } from "./spec.js";

export interface RunPaths {
  qmp: string;
  console: string;
  /** The guest agent's socket, when the channel is wanted. */
  agent?: string;
}

export interface ResolvedDisk extends DiskSpec {
  id: string;
  media: "disk" | "cdrom";
  bus: DiskBus;
  unit: number;
  /** The file QEMU opens (an overlay's path when overlay was asked for). */
  path?: string;
  format: string;
}

/** pcie-root-ports a q35 guest gets for hot-plugging (q35's root bus cannot hot-plug). */
export const HOTPLUG_ROOT_PORTS = 4;

/** Escapes a value inside a QEMU -drive/-device option list (commas double). */
export const qemuOpt = (s: string): string => s.replaceAll(",", ",,");

/**
 * 52:54:00:XX:YY:ZZ from the last three bytes of an IPv4 address (stable per address), NIC i
 * adding 0x40·i to XX. Unique per (address, NIC < 4) for the pools' addresses: their second
 * byte is below 0x40 (127.0.0.N → 00, 198.18.y.z → 12, 198.19.y.z → 13).
 */
export function macFor(address: string, nic = 0): string {
  const p = address.split(".").map(Number);
  const hex = (n: number) => (n & 0xff).toString(16).padStart(2, "0");
  return `52:54:00:${hex((p[1] ?? 0) + nic * 0x40)}:${hex(p[2] ?? 0)}:${hex(p[3] ?? 0)}`;
}

/**
 * Gives every disk an id, a bus and a unit: explicit units stay, others take the next free
 * one on their bus. Throws on two disks at one place.
 */
export function placeDisks(
  spec: Pick<GuestSpec, "disks" | "machine">,
): Omit<ResolvedDisk, "format" | "path">[] {
  const used = new Map<DiskBus, Set<number>>();
  const mark = (bus: DiskBus, unit: number, id: string) => {
    const s = used.get(bus) ?? new Set<number>();
    if (s.has(unit)) throw new Error(`disk ${id}: ${bus} unit ${unit} is taken`);
    s.add(unit);
    used.set(bus, s);
  };
  const disks = (spec.disks ?? []).map((d, i) => {
    const media = d.media ?? "disk";
    const bus = d.bus ?? (media === "cdrom" ? (spec.machine === "q35" ? "scsi" : "ide") : "virtio");
    const id = d.id ?? `disk${i}`;
    if (media === "cdrom" && bus === "virtio")
      throw new Error(`disk ${id}: a CD-ROM cannot be on virtio (use ide, sata or scsi)`);
    if (media === "disk" && !d.file) throw new Error(`disk ${id}: a disk needs a file`);
    return { ...d, id, media, bus };
  });
  const ids = new Set<string>();
  for (const d of disks) {
    if (ids.has(d.id)) throw new Error(`two disks with id ${d.id}`);
    ids.add(d.id);
    if (d.unit !== undefined) mark(d.bus, d.unit, d.id);
  }
  return disks.map((d) => {
    if (d.unit !== undefined) return { ...d, unit: d.unit };
    let unit = 0;
    while (used.get(d.bus)?.has(unit)) unit++;
    mark(d.bus, unit, d.id);
    return { ...d, unit };
  });
}

const NIC_MODELS: Record<string, string> = {
  virtio: "virtio-net-pci",
  e1000: "e1000",
  e1000e: "e1000e",
  rtl8139: "rtl8139",
  vmxnet3: "vmxnet3",
};

/** QEMU device for a disk (the bus controllers are added once by qemuArgs). */
export function diskDevice(d: ResolvedDisk): string {
  const cd = d.media === "cdrom";
  const bi = d.bootIndex !== undefined ? `,bootindex=${d.bootIndex}` : "";
  const serial = d.serial ? `,serial=${qemuOpt(d.serial)}` : "";
  const drive = `drive=drive-${d.id},id=${d.id}`;
  switch (d.bus) {
    case "virtio":
      return `virtio-blk-pci,${drive}${serial}${bi}`;
    case "scsi":
      return `${cd ? "scsi-cd" : "scsi-hd"},bus=scsihw0.0,scsi-id=${d.unit},${drive}${cd ? "" : serial}${bi}`;
    case "sata":
      return `${cd ? "ide-cd" : "ide-hd"},bus=ahci0.${d.unit},${drive}${cd ? "" : serial}${bi}`;
    default:
      return `${cd ? "ide-cd" : "ide-hd"},bus=ide.${Math.floor(d.unit / 2)},unit=${d.unit % 2},${drive}${cd ? "" : serial}${bi}`;
  }
}

/** The -drive of a disk: no device attached (if=none), the device comes from diskDevice. */
export function driveArg(d: ResolvedDisk): string {
  const ro = d.readOnly || d.media === "cdrom" ? ",readonly=on" : "";
  const media = d.media === "cdrom" ? ",media=cdrom" : "";
  if (!d.path) return `if=none,id=drive-${d.id}${media}`;
  return `file=${qemuOpt(d.path)},format=${d.format},if=none,id=drive-${d.id}${media}${ro}`;
}

export function qemuArgs(
  spec: GuestSpec,
  disks: ResolvedDisk[],
  paths: RunPaths,
  net: { address: string; forwards: Forward[] },
): string[] {
  const machine = spec.machine ?? "pc";
  const args = [
    "-name",
    `${spec.name},debug-threads=on`,
    "-machine",
    machine,
    "-accel",
    "tcg",
    "-cpu",
    "max",
    "-m",
    String(spec.memoryMiB ?? 512),
    "-smp",
    String(Math.max(1, spec.cpus ?? 1)),
    "-display",
    "none",
    "-vga",
    spec.vga ?? "std",
    "-serial",
    `file:${paths.console}`,
    "-qmp",
    `unix:${paths.qmp},server=on,wait=off`,
    "-no-user-config",
    "-nodefaults",
  ];
  if (spec.firmware === "uefi") args.push("-bios", "/usr/share/ovmf/OVMF.fd");
  if (machine === "q35")
    for (let n = 0; n < HOTPLUG_ROOT_PORTS; n++)
      args.push("-device", `pcie-root-port,id=hp${n},chassis=${n + 1}`);
  const needScsi = disks.some((d) => d.bus === "scsi");
  if (needScsi) args.push("-device", `${spec.scsiController ?? "virtio-scsi-pci"},id=scsihw0`);
  if (disks.some((d) => d.bus === "sata")) args.push("-device", "ahci,id=ahci0");
  for (const d of disks) args.push("-drive", driveArg(d), "-device", diskDevice(d));
  (spec.nics ?? [{}]).forEach((nic, i) => {
    const id = `net${i}`;
    const fwd =
      i === 0 ? net.forwards.map((f) => `,hostfwd=tcp:${net.address}:${f.host}-:${f.guest}`).join("") : "";
    args.push("-netdev", `user,id=${id},ipv6=off${fwd}`);
    const model = NIC_MODELS[nic.model ?? "virtio"] ?? nic.model ?? "virtio-net-pci";
    const bi = nic.bootIndex !== undefined ? `,bootindex=${nic.bootIndex}` : "";
    args.push("-device", `${model},netdev=${id},mac=${nic.mac ?? macFor(net.address, i)}${bi}`);
  });
  if (paths.agent)
    args.push(
      "-chardev",
      `socket,id=qga0,path=${qemuOpt(paths.agent)},server=on,wait=off`,
      "-device",
      "virtio-serial-pci,id=vser0",
      "-device",
      "virtserialport,bus=vser0.0,chardev=qga0,name=org.qemu.guest_agent.0",
    );
  return [...args, ...(spec.extraArgs ?? [])];
}
