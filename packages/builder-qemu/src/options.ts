/** The qemu builder's options as the engine hands them over (after the schema check). */
import type { CommunicatorOptions } from "@kiln/sdk";

export interface QemuOptions extends CommunicatorOptions {
  iso_url?: string;
  iso_urls?: string[];
  iso_checksum?: string;
  iso_target_path?: string;
  iso_skip_cache?: boolean;
  disk_image?: boolean;
  use_backing_file?: boolean;
  skip_resize_disk?: boolean;
  accelerator?: "auto" | "kvm" | "tcg" | "none";
  cpus?: number;
  sockets?: number;
  cores?: number;
  threads?: number;
  cpu_model?: string;
  memory?: number;
  disk_size?: number | string;
  disk_additional_size?: Array<number | string>;
  format?: "qcow2" | "raw";
  disk_interface?: "virtio" | "virtio-scsi" | "ide" | "sata" | "scsi";
  disk_cache?: string;
  disk_discard?: string;
  disk_detect_zeroes?: string;
  skip_compaction?: boolean;
  disk_compression?: boolean;
  net_device?: string;
  net_bridge?: string;
  machine_type?: string;
  qemu_binary?: string;
  qemuargs?: string[][];
  qemu_img_args?: { convert?: string[]; create?: string[]; resize?: string[] };
  firmware?: string;
  efi_boot?: boolean;
  efi_firmware_code?: string;
  efi_firmware_vars?: string;
  efi_drop_efivars?: boolean;
  vtpm?: boolean;
  use_tpm1?: boolean;
  tpm_device_type?: "tpm-tis" | "tpm-crb" | "tpm-tis-device" | "tpm-spapr";
  host_port_min?: number;
  host_port_max?: number;
  skip_nat_mapping?: boolean;
  http_host?: string;
  boot_command_method?: "qmp" | "vnc";
  qmp_enable?: boolean;
  qmp_socket_path?: string;
  vnc_bind_address?: string;
  vnc_port_min?: number;
  vnc_port_max?: number;
  vnc_use_password?: boolean;
  headless?: boolean;
  display?: string;
  output_directory?: string;
  vm_name?: string;
  floppy_files?: string[];
  floppy_dirs?: string[];
  floppy_content?: Record<string, string>;
  floppy_label?: string;
  boot_steps?: string[][];
  http_directory?: string;
  http_content?: Record<string, string>;
  http_port_min?: number;
  http_port_max?: number;
  http_bind_address?: string;
  boot_wait?: string;
  boot_command?: string[];
  boot_key_interval?: string;
  shutdown_command?: string;
  shutdown_timeout?: string;
  cd_files?: string[];
  cd_content?: Record<string, string>;
  cd_label?: string;
  ssh_clear_authorized_keys?: boolean;
  temporary_key_pair_type?: "ed25519" | "rsa";
  temporary_key_pair_bits?: number;
}

const UNITS: Record<string, number> = { "": 1024 ** 2, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/**
 * A disk size in bytes: a number is MiB (Packer), a string is `<n>[K|M|G|T][i][B]` (binary
 * units, as qemu-img reads them); a bare numeric string is MiB too.
 */
export function parseSize(value: number | string): number {
  if (typeof value === "number") return Math.round(value * 1024 ** 2);
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?)i?B?$/i.exec(value.trim());
  if (!m) throw new Error(`invalid size ${JSON.stringify(value)}: use a number of MiB or e.g. 10G, 512M`);
  const unit = UNITS[(m[2] ?? "").toUpperCase()] as number;
  return Math.round(Number(m[1]) * unit);
}

/** `1.5 GiB`, `256 MiB` … for messages. */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)} ${units[i]}`;
}
