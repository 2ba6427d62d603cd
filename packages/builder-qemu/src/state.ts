/**
 * The qemu builder's own state keys: what its steps leave for the next (beside the SDK's keys
 * such as OUTPUT_DIR, SOURCE_FILE, CD_IMAGE, FLOPPY_IMAGE, SSH_ADDRESS, COMMUNICATOR).
 */
import { stateKey } from "@kiln/core";
import type { QmpClient } from "@kiln/sdk";
import type { VmDisk } from "./args.js";
import type { QemuProcess } from "./proc.js";
import type { VmTpm } from "./tpm.js";

/** The running machine (launch step). */
export interface Vm {
  proc: QemuProcess;
  qmp: QmpClient;
  serialLog: string;
  command: string;
  /** Resets the guest went through (QMP RESET): an install reboots before SSH answers. */
  resets: number;
}
export const VM = stateKey<Vm>("qemu-vm");

/** The working disks in the staging folder and the file names they get in the output (disk step). */
export const DISKS = stateKey<{ disks: VmDisk[]; names: string[] }>("qemu-disks");

/** The format of the disk image the disks were made from (disk step, with disk_image). */
export const SOURCE_FORMAT = stateKey<string>("qemu-source-format");

/** OVMF code and the run's copy of its variables (disk step, with efi_boot). */
export const EFI = stateKey<{ code: string; vars: string }>("qemu-efi");

/** The emulated TPM (vtpm step). */
export const TPM = stateKey<VmTpm>("qemu-tpm");

/** The host port forwarded to the guest's SSH port (port step; the launch step may move it). */
export const HOST_PORT = stateKey<number>("qemu-host-port");

/**
 * QEMU's VNC server (port step): the -vnc value, where kiln's RFB client connects, and the
 * password QEMU is given (vnc_use_password).
 */
export const VNC = stateKey<{ arg: string; address: { host: string; port: number; password?: string } }>(
  "qemu-vnc",
);

/** The accelerator QEMU runs with (accelerator step). */
/** The accelerator QEMU gets: the option, or what auto chose. */
export type Accel = "kvm" | "tcg" | "none" | "hvf" | "whpx" | "xen" | "hax";
export const ACCEL = stateKey<Accel>("qemu-accel");
