/** What prepare checks beyond the schema, for both builders (the ISOs, durations, firmware, HTTP). */
import { networkInterfaces } from "node:os";
import { checkBootCommand } from "@kiln/sdk";
import { errors } from "./errors.js";
import { interfaceAddress } from "./http-host.js";
import { checkIso } from "./isos.js";
import type { CommonOptions } from "./schema.js";

export function checkCommon(o: CommonOptions): void {
  errors.duration("task_timeout", o.task_timeout);
  errors.duration("boot_wait", o.boot_wait);
  errors.duration("boot_key_interval", o.boot_key_interval);
  errors.duration("shutdown_timeout", o.shutdown_timeout);
  checkBootCommand(o);
  for (const [i, iso] of (o.additional_iso_files ?? []).entries())
    checkIso(iso, `additional_iso_files[${i}]`, true);
  if (o.bios === "ovmf" && !o.efi_config)
    throw errors.config(
      "bios: ovmf needs efi_config (the EFI vars disk)",
      "Add efi_config: { efi_storage_pool: local-lvm } (or your storage).",
    );
  if (o.http_interface && o.http_bind_address && o.http_bind_address !== "0.0.0.0")
    throw errors.config(
      "set only one of http_interface and http_bind_address",
      "http_interface picks the address the guest reaches kiln's HTTP server at; http_bind_address binds the server to one.",
    );
  if (o.http_interface && !interfaceAddress(o.http_interface))
    throw errors.config(
      `http_interface ${JSON.stringify(o.http_interface)} is not an interface of this machine with an IPv4 address`,
      `Interfaces here: ${Object.keys(networkInterfaces()).join(", ")}.`,
    );
}
