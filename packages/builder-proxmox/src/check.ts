/**
 * The proxmox builders' checks beyond their schema (the plugin API's `check`), each problem at its
 * option, for `kiln validate` and before a build starts: the credentials (options or PROXMOX_*),
 * the ISOs, durations, the boot command, firmware and the HTTP address. Nothing is contacted.
 */
import type { CheckContext, ConfigProblem } from "@kiln/core";
import { caught, commonProblems, durationProblem, problem, warning } from "@kiln/sdk";
import { credentials } from "./credentials.js";
import { interfaceAddress } from "./http-host.js";
import { bootIso, checkIso } from "./isos.js";
import type { CommonOptions, ProxmoxCloneOptions, ProxmoxIsoOptions } from "./schema.js";

function commonCheck(o: CommonOptions, ctx: CheckContext): ConfigProblem[] {
  const out = [...commonProblems(o as unknown as Record<string, unknown>, ctx)];
  const cred = caught(undefined, () => credentials(o, ctx.env));
  for (const p of cred) {
    // At the option that is wrong; a missing secret at the source itself.
    const which = /proxmox_url/.test(p.message)
      ? "proxmox_url"
      : /^a password/.test(p.message)
        ? undefined
        : "username";
    out.push(which ? { ...p, option: [which] } : p);
  }
  out.push(...durationProblem("task_timeout", o.task_timeout));
  for (const [i, iso] of (o.additional_iso_files ?? []).entries())
    out.push(
      ...caught(undefined, () => checkIso(iso, `additional_iso_files[${i}]`, true)).map((p) => ({
        ...p,
        option: ["additional_iso_files", i],
      })),
    );
  if (o.efidisk)
    out.push(
      warning(
        "efidisk",
        "efidisk is deprecated (as in Packer): it is read as efi_config.efi_storage_pool",
        `Write efi_config: { efi_storage_pool: ${o.efidisk} }.`,
      ),
    );
  if (o.efidisk && o.efi_config) out.push(problem("efidisk", "set only one of efidisk and efi_config"));
  for (const [i, d] of (o.disks ?? []).entries())
    if (d.storage_pool_type !== undefined)
      out.push(
        warning(
          ["disks", i, "storage_pool_type"],
          "storage_pool_type is deprecated and ignored (as in Packer): Proxmox knows the storage's type",
          "Remove it.",
        ),
      );
  for (const [i, d] of (o.pci_devices ?? []).entries())
    if (!d.host === !d.mapping)
      out.push(
        problem(
          ["pci_devices", i],
          `pci_devices[${i}]: set one of host and mapping`,
          'host is the PCI address (e.g. "0000:01:00.0"), mapping a cluster resource mapping.',
        ),
      );
  if (o.cloud_init_disable_upgrade_packages && !o.cloud_init)
    out.push(
      problem(
        "cloud_init_disable_upgrade_packages",
        "cloud_init_disable_upgrade_packages has no effect without cloud_init: true",
        "Set cloud_init: true, or remove it.",
      ),
    );
  if (ctx.type === "proxmox")
    out.push(
      warning(
        "type",
        "type proxmox is deprecated (as in Packer): it is proxmox-iso",
        "Write type: proxmox-iso.",
      ),
    );
  if (o.bios === "ovmf" && !o.efi_config && !o.efidisk)
    out.push(
      problem(
        "bios",
        "bios: ovmf needs efi_config (the EFI vars disk)",
        "Add efi_config: { efi_storage_pool: local-lvm } (or your storage).",
      ),
    );
  if (o.http_interface && o.http_bind_address && o.http_bind_address !== "0.0.0.0")
    out.push(
      problem(
        "http_interface",
        "set only one of http_interface and http_bind_address",
        "http_interface picks the address the guest reaches kiln's HTTP server at; http_bind_address binds the server to one.",
      ),
    );
  else if (o.http_interface && !interfaceAddress(o.http_interface))
    out.push(
      problem(
        "http_interface",
        `http_interface ${JSON.stringify(o.http_interface)} is not an interface of this machine with an IPv4 address`,
      ),
    );
  return out;
}

export function proxmoxIsoCheck(o: ProxmoxIsoOptions, ctx: CheckContext): ConfigProblem[] {
  const out = commonCheck(o, ctx);
  const where = o.boot_iso ? "boot_iso" : "iso_file";
  out.push(
    ...caught(undefined, () => checkIso(bootIso(o), "boot_iso", true)).map((p) => ({
      ...p,
      option: [where],
    })),
  );
  if (!o.disks?.length)
    out.push(
      problem(
        undefined,
        "proxmox-iso needs at least one disk to install to",
        "Add disks: [{ type: scsi, storage_pool: local-lvm, disk_size: 20G }].",
      ),
    );
  return out;
}

export function proxmoxCloneCheck(o: ProxmoxCloneOptions, ctx: CheckContext): ConfigProblem[] {
  const out = commonCheck(o, ctx);
  if ((o.clone_vm === undefined) === (o.clone_vm_id === undefined))
    out.push(
      problem(
        o.clone_vm === undefined ? undefined : "clone_vm_id",
        o.clone_vm === undefined ? "set clone_vm or clone_vm_id" : "set only one of clone_vm and clone_vm_id",
        "clone_vm is the name of the VM or template to clone, clone_vm_id its ID.",
      ),
    );
  return out;
}
