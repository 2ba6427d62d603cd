/** The API parameters of the VM: hardware, disks, network cards, slots, MACs, ISO names. */
import { applyDefaults } from "@kiln/core";
import { describe, expect, it } from "vitest";
import {
  assignCdromSlots,
  bootDiskStorage,
  diskParams,
  hardwareParams,
  isoFileName,
  repeatableMac,
} from "./params.js";
import {
  type DiskOptions,
  type ProxmoxCloneOptions,
  type ProxmoxIsoOptions,
  proxmoxCloneSchema,
  proxmoxIsoSchema,
} from "./schema.js";

const base = { node: "pve" };
// The options as the engine hands them over: the schema's defaults filled in.
const iso = (o: object) => applyDefaults(proxmoxIsoSchema, o) as ProxmoxIsoOptions;
const clone = (o: object) => applyDefaults(proxmoxCloneSchema, o) as ProxmoxCloneOptions;
const disks = (list: object[]) => iso({ ...base, disks: list }).disks as DiskOptions[];

describe("parameters", () => {
  it("disks: PVE's STORAGE:SIZE in GiB (fractions too), options, first free slot per bus, ide2 kept for the CD", () => {
    expect(
      diskParams(
        disks([
          { storage_pool: "local-lvm", disk_size: "20G", io_thread: true, discard: true, ssd: true },
          {
            type: "scsi",
            storage_pool: "local-lvm",
            disk_size: "512M",
            format: "qcow2",
            exclude_from_backup: true,
          },
          { type: "ide", storage_pool: "local", disk_size: "1T" },
          { type: "ide", storage_pool: "local" },
          { type: "ide", storage_pool: "local" },
          { type: "virtio", storage_pool: "local", ssd: true },
        ]),
      ),
    ).toEqual({
      scsi0: "local-lvm:20,format=raw,cache=none,iothread=1,discard=on,ssd=1",
      scsi1: "local-lvm:0.5,format=qcow2,cache=none,backup=0",
      ide0: "local:1024,format=raw,cache=none",
      ide1: "local:20,format=raw,cache=none",
      ide3: "local:20,format=raw,cache=none",
      virtio0: "local:20,format=raw,cache=none", // no ssd on virtio
    });
    expect(diskParams(disks([{ storage_pool: "l" }]), new Set(["scsi0", "scsi1"]))).toEqual({
      scsi2: "l:20,format=raw,cache=none",
    });
    expect(() =>
      diskParams(disks(Array.from({ length: 5 }, () => ({ type: "ide" as const, storage_pool: "l" })))),
    ).toThrow(/too many ide disks/);
  });
  it("hardware: Packer's defaults for a new VM, only what is set for a clone", () => {
    expect(hardwareParams(iso({ ...base, network_adapters: [{ bridge: "vmbr0" }] }))).toEqual({
      memory: 512,
      cores: 1,
      sockets: 1,
      cpu: "kvm64",
      ostype: "other",
      scsihw: "lsi",
      agent: "enabled=1",
      net0: "e1000,bridge=vmbr0",
    });
    expect(hardwareParams(clone({ ...base, cores: 4 }))).toEqual({ cores: 4 });
    expect(
      hardwareParams(
        iso({
          ...base,
          qemu_agent: false,
          network_adapters: [
            { model: "virtio", bridge: "vmbr1", mac_address: "BC:24:11:00:00:01", vlan_tag: "5", mtu: 1 },
          ],
          efi_config: { efi_storage_pool: "local-lvm" },
          vga: { type: "std" },
        }),
      ),
    ).toMatchObject({
      agent: "enabled=0",
      net0: "virtio=BC:24:11:00:00:01,bridge=vmbr1,tag=5,mtu=1",
      efidisk0: "local-lvm:1,efitype=4m,format=raw,pre-enrolled-keys=0",
      vga: "std",
    });
  });
});

describe("slots and MACs", () => {
  const cd = (volid: string, extra: object = {}) => ({
    bus: "ide" as const,
    boot: false,
    volid,
    unmount: false,
    keepDevice: false,
    generated: false,
    ...extra,
  });
  it("CD-ROMs: a fixed index where asked, the others in the first free slot after what is taken", () => {
    const cds = [
      cd("local:iso/boot.iso", { index: 2, boot: true }),
      cd("local:iso/a.iso"),
      cd("local:iso/b.iso"),
      cd("local:iso/c.iso", { bus: "sata" }),
    ];
    expect(assignCdromSlots(cds, new Set(["ide0", "sata0"]))).toEqual({
      ide2: "local:iso/boot.iso,media=cdrom",
      ide1: "local:iso/a.iso,media=cdrom",
      ide3: "local:iso/b.iso,media=cdrom",
      sata1: "local:iso/c.iso,media=cdrom",
    });
    expect(() => assignCdromSlots([cd("x"), cd("y")], new Set(["ide0", "ide1", "ide2"]))).toThrow(
      /no free ide slot for y/,
    );
  });
  it("repeatable MACs: 00:18:59 and the VM ID, the same every build", () => {
    expect(repeatableMac(100, 0)).toBe("00:18:59:00:0C:80");
    expect(repeatableMac(100, 1)).toBe("00:18:59:00:0C:81");
    expect(
      hardwareParams(
        iso({ ...base, network_adapters: [{ bridge: "vmbr0", mac_address: "repeatable" }] }),
        100,
      ).net0,
    ).toBe("e1000=00:18:59:00:0C:80,bridge=vmbr0");
  });
  it("the cloud-init drive's default storage is the boot disk's", () => {
    expect(
      bootDiskStorage({
        boot: "order=scsi0;ide2",
        scsi0: "fast:100/vm-100-disk-0.raw,size=20G",
        ide2: "local:iso/x.iso,media=cdrom",
      }),
    ).toBe("fast");
    expect(bootDiskStorage({ virtio0: "slow:vm-1-disk-0", ide2: "local:iso/x.iso,media=cdrom" })).toBe(
      "slow",
    );
    expect(bootDiskStorage({ ide2: "local:iso/x.iso,media=cdrom" })).toBeUndefined();
  });
});

describe("ISOs", () => {
  it("names an uploaded ISO after the URL's file and a piece of the checksum", () => {
    expect(isoFileName("https://x/debian-12.iso", "sha256:ABCDEF0123456789abcdef", "iso")).toBe(
      "debian-12-abcdef012345.iso",
    );
    expect(isoFileName("/tmp/my installer.iso", "none", "iso")).toBe("my_installer.iso");
  });
});
