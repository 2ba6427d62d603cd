import type { Kind } from "@kiln/core";

/** The standard set: types served by first-party packages, resolved before naming conventions. */
export const STANDARD_PLUGINS: Partial<Record<Kind, Record<string, string>>> = {
  builder: {
    null: "@kiln/builder-null",
    qemu: "@kiln/builder-qemu",
    "proxmox-iso": "@kiln/builder-proxmox",
    "proxmox-clone": "@kiln/builder-proxmox",
    proxmox: "@kiln/builder-proxmox",
    kamatera: "@kiln/builder-kamatera",
    "osc-bsu": "@kiln/builder-outscale",
    "osc-chroot": "@kiln/builder-outscale",
    "osc-bsusurrogate": "@kiln/builder-outscale",
    "osc-bsuvolume": "@kiln/builder-outscale",
  },
  provisioner: {
    shell: "@kiln/provisioners",
    file: "@kiln/provisioners",
    "shell-local": "@kiln/provisioners",
    breakpoint: "@kiln/provisioners",
  },
  "post-processor": {
    manifest: "@kiln/post-processors",
    checksum: "@kiln/post-processors",
    compress: "@kiln/post-processors",
    "shell-local": "@kiln/post-processors",
  },
  datasource: {
    "osc-omi": "@kiln/builder-outscale",
  },
};
