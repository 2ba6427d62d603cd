/** The proxmox builders' options as the engine hands them over (after the schema check). */
import type { CommunicatorOptions, HttpOptions } from "@kiln/sdk";

export interface DiskOptions {
  type?: "scsi" | "sata" | "virtio" | "ide";
  storage_pool: string;
  disk_size?: string;
  size?: string;
  format?: string;
  cache_mode?: string;
  io_thread?: boolean;
  asyncio?: string;
  discard?: boolean;
  ssd?: boolean;
  exclude_from_backup?: boolean;
}

export interface NetworkOptions {
  model?: string;
  bridge: string;
  vlan_tag?: string;
  mac_address?: string;
  firewall?: boolean;
  packet_queues?: number;
  mtu?: number;
}

export interface IsoOptions {
  type?: "ide" | "sata" | "scsi";
  index?: number;
  iso_file?: string;
  iso_url?: string;
  iso_urls?: string[];
  iso_checksum?: string;
  iso_storage_pool?: string;
  iso_download_pve?: boolean;
  iso_target_path?: string;
  iso_target_extension?: string;
  unmount?: boolean;
  keep_cdrom_device?: boolean;
  cd_files?: string[];
  cd_content?: Record<string, string>;
  cd_label?: string;
}

export interface CommonOptions extends CommunicatorOptions, HttpOptions {
  proxmox_url?: string;
  username?: string;
  password?: string;
  token?: string;
  insecure_skip_tls_verify?: boolean;
  proxmox_ca_file?: string;
  node: string;
  pool?: string;
  vm_id?: number;
  vm_name?: string;
  template_name?: string;
  template_description?: string;
  tags?: string;
  memory?: number;
  ballooning_minimum?: number;
  cores?: number;
  sockets?: number;
  cpu_type?: string;
  numa?: boolean;
  os?: string;
  bios?: "seabios" | "ovmf";
  efi_config?: {
    efi_storage_pool: string;
    efi_format?: string;
    pre_enrolled_keys?: boolean;
    efi_type?: string;
  };
  machine?: string;
  scsi_controller?: string;
  disks?: DiskOptions[];
  network_adapters?: NetworkOptions[];
  vga?: { type?: string; memory?: number };
  serials?: string[];
  onboot?: boolean;
  disable_kvm?: boolean;
  boot?: string;
  qemu_agent?: boolean;
  vm_interface?: string;
  cloud_init?: boolean;
  cloud_init_storage_pool?: string;
  cloud_init_disk_type?: "ide" | "sata" | "scsi";
  additional_iso_files?: IsoOptions[];
  skip_convert_to_template?: boolean;
  task_timeout?: string;
  http_interface?: string;
  http_host?: string;
  shutdown_timeout?: string;
  boot_wait?: string;
  boot_command?: string[];
  boot_key_interval?: string;
  ssh_clear_authorized_keys?: boolean;
  temporary_key_pair_type?: "ed25519" | "rsa";
  temporary_key_pair_bits?: number;
}

export interface IsoBuilderOptions extends CommonOptions {
  boot_iso?: IsoOptions;
  iso_file?: string;
  iso_url?: string;
  iso_urls?: string[];
  iso_checksum?: string;
  iso_storage_pool?: string;
  iso_download_pve?: boolean;
  unmount_iso?: boolean;
}

export interface CloneBuilderOptions extends CommonOptions {
  clone_vm?: string;
  clone_vm_id?: number;
  full_clone?: boolean;
  ipconfig?: Array<{ ip?: string; gateway?: string; ip6?: string; gateway6?: string }>;
  nameserver?: string;
  searchdomain?: string;
}
