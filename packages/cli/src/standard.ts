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
    // The plugin's names, and Packer core's older osc-* names as aliases.
    "outscale-bsu": "@kiln/builder-outscale",
    "osc-bsu": "@kiln/builder-outscale",
    "outscale-chroot": "@kiln/builder-outscale",
    "osc-chroot": "@kiln/builder-outscale",
    "outscale-bsusurrogate": "@kiln/builder-outscale",
    "osc-bsusurrogate": "@kiln/builder-outscale",
    "outscale-bsuvolume": "@kiln/builder-outscale",
    "osc-bsuvolume": "@kiln/builder-outscale",
  },
  provisioner: {
    shell: "@kiln/provisioners",
    file: "@kiln/provisioners",
    "shell-local": "@kiln/provisioners",
    breakpoint: "@kiln/provisioners",
    ansible: "@kiln/provisioner-ansible",
    "ansible-local": "@kiln/provisioner-ansible",
  },
  "post-processor": {
    manifest: "@kiln/post-processors",
    checksum: "@kiln/post-processors",
    compress: "@kiln/post-processors",
    "shell-local": "@kiln/post-processors",
  },
  datasource: {
    "outscale-omi": "@kiln/builder-outscale",
    "osc-omi": "@kiln/builder-outscale",
  },
};
