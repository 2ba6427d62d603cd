/**
 * The proxmox builders' one error helper. Messages start with the builder's type
 * (`[proxmox-iso] …`, `[proxmox-clone] …`); code that does not know which builder runs it (the
 * pure modules, the API client) says `[proxmox] …`, which the wrapped steps and prepare rename.
 */
import { type BuilderErrors, builderErrors } from "@kiln/sdk";

export type ProxmoxType = "proxmox-iso" | "proxmox-clone";

export function proxmoxErrors(prefix: ProxmoxType | "proxmox"): BuilderErrors {
  return builderErrors({
    prefix,
    configCode: "KILN_PROXMOX_CONFIG",
    bugCode: "KILN_PROXMOX_STEP",
    packageName: "@kiln/builder-proxmox",
    rename: ["proxmox"],
  });
}

/** For the modules shared by both builders: `[proxmox] …`, renamed to the builder's type. */
export const errors = proxmoxErrors("proxmox");
