/**
 * The qemu builder's options, declared once: Packer's names, meanings and defaults (a default
 * that depends on other options — machine_type, display, vm_name, tpm_device_type … — is
 * computed in defaults.ts instead). The TypeBox schema is the JSON Schema of the build file and
 * the options' type.
 */
import {
  BOOT_OPTIONS,
  bool,
  CD_OPTIONS,
  COMMUNICATOR_OPTIONS,
  FLOPPY_OPTIONS,
  HTTP_OPTIONS,
  int,
  type OptionsOf,
  oneOf,
  options,
  port,
  SHUTDOWN_OPTIONS,
  SSH_OPTIONS,
  size,
  str,
  strList,
  Type,
  withDefault,
} from "@kiln/sdk";

const SIZE_PATTERN = "^[0-9]+(\\.[0-9]+)?[KMGT]?i?B?$";

/** Options of the qemu builder, with Packer's names and meanings. */
export const qemuSchema = options(
  {
    // Not required by the schema: iso_urls may stand in for it (check.ts says when neither is set).
    iso_url: str("URL or path of the ISO (or, with disk_image, the disk image) to boot from."),
    iso_urls: strList("Several URLs for the same file, tried in order."),
    iso_checksum: str(
      'Checksum of the ISO: "sha256:…", a bare hash, "file:<url or path of a SUMS file>", or "none".',
    ),
    iso_target_path: str("Where the downloaded ISO is kept. Default: kiln's download cache."),
    iso_target_extension: withDefault(str("Extension of the downloaded file in the cache."), "iso"),
    iso_checksum_url: str("Removed (also in Packer): write iso_checksum: file:<url>."),
    iso_checksum_type: str("Removed (also in Packer): write iso_checksum: <type>:<hash>."),
    iso_skip_cache: bool("Always download, never reuse the cache."),
    disk_image: bool("iso_url is a bootable disk image (a cloud image), not an installer ISO."),
    use_backing_file: bool("With disk_image, make the output a qcow2 overlay backed by the original image."),
    skip_resize_disk: bool("With disk_image, do not grow the image to disk_size."),
    accelerator: withDefault(
      oneOf(
        ["auto", "kvm", "tcg", "none", "hvf", "whpx", "xen", "hax"],
        "auto checks that KVM really runs a guest before choosing it, else tcg. hvf (macOS), whpx (Windows), xen and hax are passed to QEMU where the host has them.",
      ),
      "auto",
    ),
    cpus: withDefault(int("Virtual CPUs.", { minimum: 1 }), 1),
    sockets: int("CPU sockets (-smp sockets=).", { minimum: 1 }),
    cores: int("Cores per socket (-smp cores=).", { minimum: 1 }),
    threads: int("Threads per core (-smp threads=).", { minimum: 1 }),
    cpu_model: str("QEMU -cpu model, e.g. host or max."),
    memory: withDefault(int("Memory in MiB.", { minimum: 16 }), 512),
    disk_size: withDefault(size("Size of the disk."), 40960),
    disk_additional_size: Type.Optional(
      Type.Array(
        Type.Union([Type.Integer({ minimum: 1 }), Type.String({ pattern: SIZE_PATTERN })], {
          description: "Size of an additional disk. A number of MiB, or a size such as 10G or 512M.",
        }),
      ),
    ),
    format: withDefault(oneOf(["qcow2", "raw"], "Format of the output disk."), "qcow2"),
    disk_interface: withDefault(
      oneOf(
        ["virtio", "virtio-scsi", "ide", "sata", "scsi", "sd"],
        "How the disk is attached (sd: an SD card, for ARM boards).",
      ),
      "virtio",
    ),
    disk_cache: withDefault(
      oneOf(["writeback", "writethrough", "none", "unsafe", "directsync"]),
      "writeback",
    ),
    disk_discard: withDefault(oneOf(["unmap", "ignore"]), "ignore"),
    disk_detect_zeroes: withDefault(oneOf(["unmap", "on", "off"]), "off"),
    skip_compaction: bool("Do not run qemu-img convert on the result."),
    disk_compression: bool("Compress the qcow2 result (qemu-img convert -c)."),
    net_device: withDefault(
      str(
        "Network card model: any QEMU -device name, e.g. virtio-net, virtio-net-pci, e1000, e1000e, rtl8139, vmxnet3, usb-net.",
        { minLength: 1 },
      ),
      "virtio-net",
    ),
    net_bridge: str("Attach to this bridge (qemu-bridge-helper) instead of user-mode networking."),
    machine_type: str("QEMU -machine type. Default: pc (q35 with efi_boot)."),
    qemu_binary: withDefault(str("The QEMU program."), "qemu-system-x86_64"),
    qemuargs: Type.Optional(
      Type.Array(Type.Array(Type.String(), { minItems: 1 }), {
        description:
          'Extra QEMU arguments, e.g. [["-display", "none"]]; a switch given here replaces kiln\'s own.',
      }),
    ),
    qemu_img_args: Type.Optional(
      Type.Object(
        {
          convert: strList("Extra qemu-img convert arguments."),
          create: strList("Extra qemu-img create arguments."),
          resize: strList("Extra qemu-img resize arguments."),
        },
        { additionalProperties: false },
      ),
    ),
    firmware: str("BIOS firmware file (-bios)."),
    efi_boot: bool("Boot with UEFI (OVMF)."),
    efi_firmware_code: str(
      "OVMF code file. Default: the first that exists of Debian's and Ubuntu's OVMF paths (4M variants included).",
    ),
    efi_firmware_vars: str("OVMF variables template."),
    efi_drop_efivars: bool("Do not keep the EFI variables file with the output."),
    vtpm: bool("Attach an emulated TPM 2.0 (swtpm, which must be installed), e.g. for Windows 11."),
    use_tpm1: bool("With vtpm, emulate a TPM 1.2 instead of 2.0."),
    tpm_device_type: oneOf(
      ["tpm-tis", "tpm-crb", "tpm-tis-device", "tpm-spapr"],
      "With vtpm, the TPM device model. Default: tpm-crb on q35 machines (and with efi_boot), else tpm-tis; tpm-tis-device on ARM, tpm-spapr on POWER.",
    ),
    host_port_min: withDefault(port("Lowest host port forwarded to the guest's SSH port."), 2222),
    host_port_max: withDefault(port("Highest such port."), 4444),
    skip_nat_mapping: bool("Do not forward a host port; connect to ssh_host directly."),
    http_host: str(
      "Address the guest reaches the HTTP server at (${{ http.ip }}). Default: 10.0.2.2 on user networking.",
    ),
    boot_command_method: withDefault(
      oneOf(
        ["qmp", "vnc"],
        "How boot_command is typed: qmp (fast, no lost keys) or vnc (RFB key events to QEMU's VNC server, as Packer; 100ms between keys unless boot_key_interval is set).",
      ),
      "qmp",
    ),
    qmp_enable: bool(
      "Give QEMU a QMP socket for you (at qmp_socket_path) besides the one kiln types and watches through.",
    ),
    qmp_socket_path: str(
      "Path of the QMP socket qmp_enable gives you; setting it implies qmp_enable. Default: qmp.sock in the run's temporary folder (named in the log).",
    ),
    // No schema defaults for vnc_*: any of them set asks for a VNC server (see vncServerWanted).
    vnc_bind_address: str("Address the VNC server listens on. Default: 127.0.0.1."),
    vnc_port_min: int("Lowest VNC port (display 0 is 5900). Default: 5900.", {
      minimum: 5900,
      maximum: 65535,
    }),
    vnc_port_max: int("Highest VNC port. Default: 6000.", { minimum: 5900, maximum: 65535 }),
    vnc_use_password: bool(
      "Protect the VNC server with a random password (-vnc …,password=on, set through QMP); kiln's VNC typing uses it.",
    ),
    headless: withDefault(
      bool("No window (-display none) unless display is set; false opens QEMU's gtk window, as Packer."),
      true,
    ),
    display: str(
      "QEMU -display value, e.g. gtk or sdl, used with headless: false (default gtk); ignored when headless.",
    ),
    use_default_display: bool(
      "Pass no -display option: QEMU picks its default (e.g. on macOS, where gtk is missing).",
    ),
    vga: str("QEMU -vga value, e.g. std, virtio, qxl or none. Default: QEMU's for the machine."),
    cdrom_interface: oneOf(
      ["ide", "scsi", "virtio", "virtio-scsi"],
      "How the ISO and CD are attached. Default: ide (on q35, its AHCI ports); some ARM64 images need virtio-scsi.",
    ),
    use_pflash: bool("Give QEMU firmware as a pflash drive instead of -bios."),
    vnc_password: str(
      "A fixed password for the VNC server (implies one; set over QMP), instead of vnc_use_password's random one.",
    ),
    disable_vnc: bool("No VNC server, whatever the vnc_* options say (kiln types through QMP by default)."),
    output_directory: str(
      "Folder for the result. Default: output-<source name>. Never overwritten without --force.",
    ),
    vm_name: str(
      "File name of the result disk in output_directory. Default: packer-<source name>, without an extension, as Packer names it.",
    ),
    ...FLOPPY_OPTIONS,
    boot_steps: Type.Optional(
      Type.Array(Type.Array(Type.String()), {
        description: "boot_command in steps, each with a description shown while typing.",
      }),
    ),
    ...COMMUNICATOR_OPTIONS,
    ...SSH_OPTIONS,
    ...HTTP_OPTIONS,
    ...BOOT_OPTIONS,
    ...CD_OPTIONS,
    ...SHUTDOWN_OPTIONS,
  },
  { description: "Build an image with QEMU." },
);

/** The qemu builder's options as the engine hands them over: checked, defaults filled in. */
export type QemuOptions = OptionsOf<typeof qemuSchema>;
