import {
  BOOT_OPTIONS,
  CD_OPTIONS,
  COMMUNICATOR_OPTIONS,
  DURATION,
  FLOPPY_OPTIONS,
  HTTP_OPTIONS,
  type JsonSchema,
  objectSchema,
  SHUTDOWN_OPTIONS,
  SSH_OPTIONS,
} from "@kiln/sdk";

const str = (description: string): JsonSchema => ({ type: "string", description });
const bool = (description: string): JsonSchema => ({ type: "boolean", description });
const strList = (description: string): JsonSchema => ({
  type: "array",
  items: { type: "string" },
  description,
});
const size = (description: string): JsonSchema => ({
  anyOf: [
    { type: "integer", minimum: 1 },
    { type: "string", pattern: "^[0-9]+(\\.[0-9]+)?[KMGT]?i?B?$" },
  ],
  description: `${description} A number of MiB, or a size such as 10G or 512M.`,
});

/** Options of the qemu builder, with Packer's names and meanings. */
export const qemuSchema: JsonSchema = objectSchema(
  {
    iso_url: str("URL or path of the ISO (or, with disk_image, the disk image) to boot from."),
    iso_urls: strList("Several URLs for the same file, tried in order."),
    iso_checksum: str(
      'Checksum of the ISO: "sha256:…", a bare hash, "file:<url or path of a SUMS file>", or "none".',
    ),
    iso_target_path: str("Where the downloaded ISO is kept. Default: kiln's download cache."),
    iso_skip_cache: bool("Always download, never reuse the cache."),
    disk_image: bool("iso_url is a bootable disk image (a cloud image), not an installer ISO."),
    use_backing_file: bool("With disk_image, make the output a qcow2 overlay backed by the original image."),
    skip_resize_disk: bool("With disk_image, do not grow the image to disk_size."),
    accelerator: {
      enum: ["auto", "kvm", "tcg", "none"],
      description: "auto (default) checks that KVM really runs a guest before choosing it, else tcg.",
    },
    cpus: { type: "integer", minimum: 1, description: "Virtual CPUs. Default: 1." },
    sockets: { type: "integer", minimum: 1 },
    cores: { type: "integer", minimum: 1 },
    threads: { type: "integer", minimum: 1 },
    cpu_model: str("QEMU -cpu model, e.g. host or max."),
    memory: { type: "integer", minimum: 16, description: "Memory in MiB. Default: 512." },
    disk_size: size("Size of the disk. Default: 40960 MiB."),
    disk_additional_size: { type: "array", items: size("Size of an additional disk.") },
    format: { enum: ["qcow2", "raw"], description: "Format of the output disk. Default: qcow2." },
    disk_interface: {
      enum: ["virtio", "virtio-scsi", "ide", "sata", "scsi"],
      description: "How the disk is attached. Default: virtio.",
    },
    disk_cache: {
      enum: ["writeback", "writethrough", "none", "unsafe", "directsync"],
      description: "Default: writeback.",
    },
    disk_discard: { enum: ["unmap", "ignore"], description: "Default: ignore." },
    disk_detect_zeroes: { enum: ["unmap", "on", "off"], description: "Default: off." },
    skip_compaction: bool("Do not run qemu-img convert on the result."),
    disk_compression: bool("Compress the qcow2 result (qemu-img convert -c)."),
    net_device: {
      enum: [
        "virtio-net",
        "virtio-net-pci",
        "e1000",
        "e1000e",
        "rtl8139",
        "ne2k_pci",
        "i82551",
        "i82557b",
        "i82559er",
        "pcnet",
        "vmxnet3",
      ],
      description: "Network card model. Default: virtio-net.",
    },
    net_bridge: str("Attach to this bridge (qemu-bridge-helper) instead of user-mode networking."),
    machine_type: str("QEMU -machine type. Default: pc (q35 with efi_boot)."),
    qemu_binary: str("The QEMU program. Default: qemu-system-x86_64."),
    qemuargs: {
      type: "array",
      items: { type: "array", items: { type: "string" }, minItems: 1 },
      description:
        'Extra QEMU arguments, e.g. [["-display", "none"]]; a switch given here replaces kiln\'s own.',
    },
    qemu_img_args: {
      type: "object",
      additionalProperties: false,
      properties: {
        convert: strList("Extra qemu-img convert arguments."),
        create: strList("Extra qemu-img create arguments."),
        resize: strList("Extra qemu-img resize arguments."),
      },
    },
    firmware: str("BIOS firmware file (-bios)."),
    efi_boot: bool("Boot with UEFI (OVMF)."),
    efi_firmware_code: str(
      "OVMF code file. Default: the first that exists of Debian's and Ubuntu's OVMF paths (4M variants included).",
    ),
    efi_firmware_vars: str("OVMF variables template."),
    efi_drop_efivars: bool("Do not keep the EFI variables file with the output."),
    vtpm: bool("Attach an emulated TPM 2.0 (swtpm, which must be installed), e.g. for Windows 11."),
    use_tpm1: bool("With vtpm, emulate a TPM 1.2 instead of 2.0."),
    tpm_device_type: {
      enum: ["tpm-tis", "tpm-crb", "tpm-tis-device", "tpm-spapr"],
      description:
        "With vtpm, the TPM device model. Default: tpm-crb on q35 machines (and with efi_boot), else tpm-tis; tpm-tis-device on ARM, tpm-spapr on POWER.",
    },
    host_port_min: {
      type: "integer",
      minimum: 1,
      maximum: 65535,
      description: "Lowest host port forwarded to the guest's SSH port. Default: 2222.",
    },
    host_port_max: {
      type: "integer",
      minimum: 1,
      maximum: 65535,
      description: "Highest such port. Default: 4444.",
    },
    skip_nat_mapping: bool("Do not forward a host port; connect to ssh_host directly."),
    http_host: str(
      "Address the guest reaches the HTTP server at (${{ http.ip }}). Default: 10.0.2.2 on user networking.",
    ),
    boot_command_method: {
      enum: ["qmp", "vnc"],
      description:
        "How boot_command is typed: qmp (default; fast, no lost keys) or vnc (RFB key events to QEMU's VNC server, as Packer; 100ms between keys unless boot_key_interval is set).",
    },
    qmp_enable: bool("Keep a QMP socket (kiln always uses QMP internally)."),
    qmp_socket_path: str("Path of the QMP socket."),
    vnc_bind_address: str("Address the VNC server listens on. Default: 127.0.0.1."),
    vnc_port_min: { type: "integer", minimum: 5900, maximum: 65535 },
    vnc_port_max: { type: "integer", minimum: 5900, maximum: 65535 },
    vnc_use_password: bool(
      "Protect the VNC server with a random password (-vnc …,password=on, set through QMP); kiln's VNC typing uses it.",
    ),
    headless: bool("No window. kiln never opens one unless display is set."),
    display: str("QEMU -display value, e.g. gtk or none."),
    output_directory: str(
      "Folder for the result. Default: output-<source name>. Never overwritten without --force.",
    ),
    vm_name: str(
      "File name of the result disk in output_directory. Default: <source name>.<format>, e.g. ubuntu.qcow2.",
    ),
    ...FLOPPY_OPTIONS,
    boot_steps: {
      type: "array",
      items: { type: "array", items: { type: "string" } },
      description: "boot_command in steps, each with a description shown while typing.",
    },
    ssh_wait_timeout: { ...DURATION, description: "Deprecated Packer name for ssh_timeout." },
    ...COMMUNICATOR_OPTIONS,
    ...SSH_OPTIONS,
    ...HTTP_OPTIONS,
    ...BOOT_OPTIONS,
    ...CD_OPTIONS,
    ...SHUTDOWN_OPTIONS,
  },
  { required: ["iso_url"], description: "Build an image with QEMU." },
);
