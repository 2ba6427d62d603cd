import { defineBuilder, definePlugin } from "@kiln/core";
import { proxmoxCloneSchema, proxmoxIsoSchema } from "./schema.js";

export { proxmoxCloneSchema, proxmoxIsoSchema };

export const proxmoxIso = defineBuilder({
  type: "proxmox-iso",
  description:
    "Build a Proxmox VE template from an ISO: create a VM, type the boot command, serve the install config over HTTP, provision over SSH, convert to a template.",
  schema: proxmoxIsoSchema,
  // The implementation is loaded only when a build runs, so validation never imports it.
  create: async () => (await import("./builder.js")).proxmoxIsoBuilder,
});

export const proxmoxClone = defineBuilder({
  type: "proxmox-clone",
  description:
    "Build a Proxmox VE template from an existing VM or template: clone it, provision over SSH, convert to a template.",
  schema: proxmoxCloneSchema,
  create: async () => (await import("./builder.js")).proxmoxCloneBuilder,
});

/** Packer's old name of proxmox-iso: the same builder, with a deprecation warning (check.ts). */
export const proxmoxAlias = defineBuilder({
  type: "proxmox",
  description: "Deprecated name of proxmox-iso (as in Packer).",
  schema: proxmoxIsoSchema,
  create: async () => (await import("./builder.js")).proxmoxIsoBuilder,
});

export default definePlugin({
  name: "@kiln/builder-proxmox",
  builders: [proxmoxIso, proxmoxClone, proxmoxAlias],
});
