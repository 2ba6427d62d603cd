/**
 * The Proxmox options Packer templates use: the VM parameters they become, checked against the
 * PVE API contract (the trimmed upstream schema the PVE double serves), and their checks.
 */
import { applyDefaults } from "@kiln/core";
import { createValidator, loadSubset } from "@kiln-testbed/pve";
import { describe, expect, it } from "vitest";
import { proxmoxIsoCheck } from "./check.js";
import { hardwareParams } from "./params.js";
import { type ProxmoxIsoOptions, proxmoxIsoSchema } from "./schema.js";

const base = {
  proxmox_url: "https://pve.invalid:8006/api2/json",
  username: "root@pam",
  password: "pw",
  node: "pve",
  boot_iso: { iso_file: "local:iso/x.iso" },
  disks: [{ type: "scsi", storage_pool: "local-lvm", disk_size: "10G" }],
  ssh_username: "root",
};
const opts = (o: Record<string, unknown>): ProxmoxIsoOptions =>
  applyDefaults(proxmoxIsoSchema, { ...base, ...o }) as ProxmoxIsoOptions;
const problems = (o: Record<string, unknown>, type = "proxmox-iso") =>
  proxmoxIsoCheck(opts(o), { baseDir: "/", type, env: {} }).map(
    (p) => `${p.severity ?? "error"} ${p.option?.join(".")}: ${p.message}`,
  );

const spec = loadSubset();
const create = spec.paths["/nodes/{node}/qemu"]?.POST;

describe("proxmox options from Packer", () => {
  const p = hardwareParams(
    opts({
      tpm_config: { tpm_storage_pool: "local-lvm" },
      rng0: { source: "/dev/urandom", period: 1000 },
      pci_devices: [
        { host: "0000:01:00.0", pcie: true, x_vga: true, hide_rombar: true },
        { mapping: "gpu", mdev: "nvidia-63" },
      ],
      qemu_additional_args: "-no-hpet",
      bios: "ovmf",
      efidisk: "local-lvm",
      machine: "q35",
    }),
    100,
  );

  it("tpm_config, rng0, pci_devices, qemu_additional_args and the deprecated efidisk", () => {
    expect(p.tpmstate0).toBe("local-lvm:1,version=v2.0");
    expect(p.rng0).toBe("source=/dev/urandom,max_bytes=1024,period=1000");
    expect(p.hostpci0).toBe("0000:01:00.0,pcie=1,x-vga=1,rombar=0");
    expect(p.hostpci1).toBe("mapping=gpu,mdev=nvidia-63");
    expect(p.args).toBe("-no-hpet");
    expect(p.efidisk0).toBe("local-lvm:1,efitype=4m,format=raw,pre-enrolled-keys=0");
  });

  it("are parameters the PVE API accepts", () => {
    expect(create).toBeDefined();
    const v = createValidator(spec);
    const errors = v.validate(create as never, { vmid: 100, node: "pve", ...p } as never);
    expect(errors).toEqual({});
  });

  it("type proxmox, efidisk and storage_pool_type are deprecated: warnings; contradictions are errors", () => {
    expect(problems({}, "proxmox")).toEqual([
      "warning type: type proxmox is deprecated (as in Packer): it is proxmox-iso",
    ]);
    expect(problems({ disks: [{ storage_pool: "local-lvm", storage_pool_type: "lvm" }] })).toEqual([
      "warning disks.0.storage_pool_type: storage_pool_type is deprecated and ignored (as in Packer): Proxmox knows the storage's type",
    ]);
    expect(problems({ efidisk: "a", efi_config: { efi_storage_pool: "b" } })).toContain(
      "error efidisk: set only one of efidisk and efi_config",
    );
    expect(problems({ pci_devices: [{ pcie: true }] })[0]).toMatch(
      /^error pci_devices.0: pci_devices\[0\]: set one of host and mapping/,
    );
    expect(problems({ cloud_init_disable_upgrade_packages: true })[0]).toMatch(/without cloud_init: true/);
    expect(problems({ ssh_keypair_name: "build" })[0]).toMatch(/^error ssh_keypair_name:/);
  });
});
