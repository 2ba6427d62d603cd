/**
 * The Proxmox API parameters of the VM, from the options (pure): hardware, disks, network cards,
 * CD-ROM slots, the cloud-init drive's slot and storage, and the name of an uploaded ISO.
 */
import { basename } from "node:path";
import type { Params } from "./client.js";
import { errors } from "./errors.js";
import type { CommonOptions, DiskOptions, IsoOptions, NetworkOptions } from "./schema.js";

/** The last slot of each bus. */
export const BUS_MAX: Record<string, number> = { ide: 3, sata: 5, scsi: 30, virtio: 15 };

/** disk_size has no schema default (the deprecated `size` may stand in for it). */
const DEFAULT_DISK_SIZE = "20G";

/** The VM's name while it is built: vm_name, else kiln-<source name>. */
export function vmName(o: Pick<CommonOptions, "vm_name">, source: string): string {
  return o.vm_name ?? `kiln-${source}`.replace(/[^A-Za-z0-9.-]+/g, "-");
}

/** PVE's STORAGE:SIZE size: GiB, fractions included (0.25 = 256M), rounded up to whole MiB. */
export function diskSize(d: Pick<DiskOptions, "disk_size" | "size">): string {
  const raw = (d.disk_size ?? d.size ?? DEFAULT_DISK_SIZE).toUpperCase();
  const m = /^([0-9]+(?:\.[0-9]+)?)([KMGT]?)$/.exec(raw);
  if (!m) throw errors.config(`disk_size ${JSON.stringify(raw)} is not a size`, "Write e.g. 20G or 512M.");
  const n = Number(m[1]);
  const gib = n * { "": 1, K: 1 / 1024 ** 2, M: 1 / 1024, G: 1, T: 1024 }[m[2] as "" | "K" | "M" | "G" | "T"];
  return String(Math.max(1 / 1024, Math.ceil(gib * 1024) / 1024));
}

/**
 * Parameters for the VM's hardware, shared by create (iso) and reconfigure (clone): what is set.
 * proxmox-iso's schema gives memory, cores … Packer's defaults, so a new VM gets them all; a
 * clone gets only what the build file sets, the rest stays as the source has it.
 */
export function hardwareParams(o: CommonOptions, vmid?: number): Params {
  const p: Params = {};
  if (o.memory !== undefined) p.memory = o.memory;
  if (o.ballooning_minimum !== undefined) p.balloon = o.ballooning_minimum;
  if (o.cores !== undefined) p.cores = o.cores;
  if (o.sockets !== undefined) p.sockets = o.sockets;
  if (o.cpu_type !== undefined) p.cpu = o.cpu_type;
  if (o.numa) p.numa = true;
  if (o.os !== undefined) p.ostype = o.os;
  if (o.bios) p.bios = o.bios;
  if (o.machine) p.machine = o.machine;
  if (o.scsi_controller !== undefined) p.scsihw = o.scsi_controller;
  if (o.onboot !== undefined) p.onboot = o.onboot;
  if (o.disable_kvm) p.kvm = false;
  if (o.boot) p.boot = o.boot;
  if (o.qemu_agent !== undefined) p.agent = o.qemu_agent ? "enabled=1" : "enabled=0";
  if (o.tags) p.tags = o.tags;
  if (o.vga) p.vga = [o.vga.type, o.vga.memory ? `memory=${o.vga.memory}` : ""].filter(Boolean).join(",");
  for (const [i, s] of (o.serials ?? []).entries()) p[`serial${i}`] = s;
  for (const [i, n] of (o.network_adapters ?? []).entries()) p[`net${i}`] = netParam(n, i, vmid);
  const efi =
    o.efi_config ??
    (o.efidisk
      ? { efi_storage_pool: o.efidisk, efi_type: "4m", efi_format: "raw", pre_enrolled_keys: false }
      : undefined);
  if (efi)
    p.efidisk0 = `${efi.efi_storage_pool}:1,efitype=${efi.efi_type},format=${efi.efi_format},pre-enrolled-keys=${efi.pre_enrolled_keys ? 1 : 0}`;
  if (o.tpm_config) p.tpmstate0 = `${o.tpm_config.tpm_storage_pool}:1,version=${o.tpm_config.tpm_version}`;
  if (o.rng0) {
    const r = o.rng0;
    p.rng0 = [
      `source=${r.source}`,
      `max_bytes=${r.max_bytes}`,
      ...(r.period !== undefined ? [`period=${r.period}`] : []),
    ].join(",");
  }
  for (const [i, d] of (o.pci_devices ?? []).entries()) p[`hostpci${i}`] = pciParam(d);
  if (o.qemu_additional_args) p.args = o.qemu_additional_args;
  return p;
}

type PciDevice = NonNullable<CommonOptions["pci_devices"]>[number];

/** hostpciN: the device (host address or mapping) and its settings, as Proxmox writes them. */
export function pciParam(d: PciDevice): string {
  const parts = [d.mapping ? `mapping=${d.mapping}` : (d.host ?? "")];
  if (d.pcie) parts.push("pcie=1");
  if (d.x_vga) parts.push("x-vga=1");
  if (d.hide_rombar) parts.push("rombar=0");
  if (d.romfile) parts.push(`romfile=${d.romfile}`);
  if (d.mdev) parts.push(`mdev=${d.mdev}`);
  if (d.legacy_igd) parts.push("legacy-igd=1");
  if (d.device_id) parts.push(`device-id=${d.device_id}`);
  if (d.vendor_id) parts.push(`vendor-id=${d.vendor_id}`);
  if (d.sub_device_id) parts.push(`sub-device-id=${d.sub_device_id}`);
  if (d.sub_vendor_id) parts.push(`sub-vendor-id=${d.sub_vendor_id}`);
  return parts.join(",");
}

/**
 * Packer's `mac_address: repeatable`: 00:18:59 (a reserved prefix) followed by the VM ID shifted
 * left by 5 bits, or'ed with the adapter's index — the same MAC for the same VM ID every build.
 */
export function repeatableMac(vmid: number, index: number): string {
  const v = ((vmid << 5) | index) >>> 0;
  const b = [(v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
  return ["00", "18", "59", ...b.map((x) => x.toString(16).padStart(2, "0"))].join(":").toUpperCase();
}

export function netParam(n: NetworkOptions, index: number, vmid: number | undefined): string {
  const mac =
    n.mac_address === "repeatable"
      ? vmid !== undefined
        ? repeatableMac(vmid, index)
        : undefined
      : n.mac_address;
  const parts = [mac ? `${n.model}=${mac}` : n.model, `bridge=${n.bridge}`];
  if (n.vlan_tag) parts.push(`tag=${n.vlan_tag}`);
  if (n.firewall) parts.push("firewall=1");
  if (n.packet_queues) parts.push(`queues=${n.packet_queues}`);
  if (n.mtu) parts.push(`mtu=${n.mtu}`);
  return parts.join(",");
}

/**
 * Drive parameters for `disks`, each in the first free slot of its bus (`taken`: slots already
 * used, e.g. by a clone's own disks; ide2 is kept for the boot CD-ROM).
 */
export function diskParams(disks: DiskOptions[], taken: ReadonlySet<string> = new Set()): Params {
  const p: Params = {};
  const used = new Set([...taken, "ide2"]);
  for (const d of disks) {
    const bus = d.type;
    let i = 0;
    while (used.has(`${bus}${i}`)) i++;
    if (i > (BUS_MAX[bus] ?? 30))
      throw errors.config(
        `too many ${bus} disks: ${bus}${BUS_MAX[bus]} is the last slot`,
        "Put some disks on another bus (type).",
      );
    used.add(`${bus}${i}`);
    const parts = [`${d.storage_pool}:${diskSize(d)}`, `format=${d.format}`, `cache=${d.cache_mode}`];
    if (d.io_thread) parts.push("iothread=1");
    if (d.asyncio) parts.push(`aio=${d.asyncio}`);
    if (d.discard) parts.push("discard=on");
    if (d.ssd && bus !== "virtio") parts.push("ssd=1");
    if (d.exclude_from_backup) parts.push("backup=0");
    p[`${bus}${i}`] = parts.join(",");
  }
  return p;
}

/** A CD-ROM drive: the volume, where it goes (slot, assigned when the VM is made), what to do after. */
export interface Cdrom {
  slot?: string;
  bus: "ide" | "sata" | "scsi";
  index?: number;
  boot: boolean;
  volid: string;
  unmount: boolean;
  keepDevice: boolean;
}

/** Where an ISO's drive goes: its type (default ide) and index; the boot ISO without either at ide2 (Packer's). */
export function cdromPlace(
  iso: Pick<IsoOptions, "type" | "index">,
  boot: boolean,
): { bus: Cdrom["bus"]; index?: number } {
  const bus = iso.type ?? "ide";
  if (iso.index !== undefined) return { bus, index: iso.index };
  return boot && !iso.type ? { bus, index: 2 } : { bus };
}

/**
 * Put the CD-ROMs in slots: those with an index (the boot ISO's default ide2) where asked,
 * the others in the first free slot of their bus after `taken` (the disks, a clone's drives).
 */
export function assignCdromSlots(cdroms: Cdrom[], taken: ReadonlySet<string>): Record<string, string> {
  const used = new Set(taken);
  const out: Record<string, string> = {};
  for (const cd of cdroms.filter((c) => c.index !== undefined)) {
    cd.slot = `${cd.bus}${cd.index}`;
    used.add(cd.slot);
  }
  for (const cd of cdroms.filter((c) => c.index === undefined)) {
    let i = 0;
    while (used.has(`${cd.bus}${i}`)) i++;
    if (i > (BUS_MAX[cd.bus] as number))
      throw errors.config(
        `no free ${cd.bus} slot for ${cd.volid}`,
        "Put the ISO on another bus (type: sata or scsi), or give fewer ISOs.",
      );
    cd.slot = `${cd.bus}${i}`;
    used.add(cd.slot);
  }
  for (const cd of cdroms) out[cd.slot as string] = `${cd.volid},media=cdrom`;
  return out;
}

/** A free slot on a bus for the cloud-init drive. */
export function freeSlot(bus: string, taken: ReadonlySet<string>): string {
  const max = BUS_MAX[bus] ?? 30;
  for (let i = 0; i <= max; i++) if (!taken.has(`${bus}${i}`)) return `${bus}${i}`;
  throw errors.config(
    `no free ${bus} slot for the cloud-init drive`,
    "Set cloud_init_disk_type to another bus.",
  );
}

/** The storage of the VM's boot disk (the first disk in the boot order, else the first disk). */
export function bootDiskStorage(config: Record<string, unknown>): string | undefined {
  const isDisk = (k: string) =>
    /^(ide|sata|scsi|virtio)\d+$/.test(k) &&
    typeof config[k] === "string" &&
    !/media=cdrom/.test(config[k] as string);
  const order = /order=([^,]+)/.exec(String(config.boot ?? ""))?.[1]?.split(";") ?? [];
  const key = [...order, String(config.bootdisk ?? ""), ...Object.keys(config).sort()].find(
    (k) => k && isDisk(k),
  );
  return key ? (String(config[key]).split(":")[0] as string) : undefined;
}

/** The ISO's name on the storage: the URL's file name, made unique by a piece of the checksum. */
export function isoFileName(url: string, checksum: string, ext: string): string {
  let base = basename(new URL(url, "file:///").pathname) || "image";
  try {
    base = decodeURIComponent(base); // "my%20installer.iso" is "my installer.iso"
  } catch {
    // a malformed escape: keep it as it is
  }
  base = base.replace(/[^A-Za-z0-9._-]+/g, "_");
  const hash = /([0-9a-fA-F]{12,})$/.exec(checksum)?.[1]?.slice(0, 12).toLowerCase();
  const stem = base.replace(/\.(iso|img)$/i, "");
  return `${stem}${hash ? `-${hash}` : ""}.${ext}`;
}
