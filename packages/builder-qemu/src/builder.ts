/**
 * The qemu builder's run time, after Packer's qemu builder on a Linux host:
 *
 *   output directory → temporary SSH key → ISO / disk image → disk → EFI vars → CD → floppy →
 *   HTTP server → host port → accelerator → swtpm → QEMU → VNC password → boot command → SSH →
 *   provisioners → clear keys → shutdown → compaction → output directory moved into place.
 *
 * With checkpoints, a rebuild starts instead from a saved machine (checkpoint.ts): output
 * directory → saved key → ISO → disk overlays → HTTP → port → accelerator → QEMU -incoming →
 * state loaded → SSH again → the provisioners that changed → the same steps to the end.
 *
 * Everything is written into a hidden sibling of the output directory and renamed into place
 * by the last step, so a failed or interrupted build leaves no output directory. QEMU is
 * stopped by its step's cleanup whatever happens (ACPI power button, then quit, then SIGKILL).
 * Each step is in steps/; they share what they make through state keys (state.ts and the SDK's).
 */
import { existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { type Artifact, type BuilderRuntime, isKilnError, messageOf } from "@kiln/core";
import {
  cdStep,
  checkBootCommand,
  checkFloppyLabel,
  clearAuthorizedKeysStep,
  finishOutputStep,
  floppyStep,
  OUTPUT_DIR,
  outputDirectoryStep,
  temporaryKeyStep,
} from "@kiln/sdk";
import { qemuCheckpoints, qemuOutputPath } from "./checkpoint.js";
import { VNC_PORT_MAX, VNC_PORT_MIN, vmName, vncRange } from "./defaults.js";
import { qemuErrors } from "./errors.js";
import type { QemuOptions } from "./schema.js";
import { httpStep, sourceStep } from "./shared-steps.js";
import { parseSize } from "./size.js";
import { DISKS, EFI } from "./state.js";
import { acceleratorStep } from "./steps/accelerator.js";
import { bootStep } from "./steps/boot.js";
import { compactStep } from "./steps/compact.js";
import { connectVmStep } from "./steps/connect.js";
import { diskStep } from "./steps/disk.js";
import { efiStep } from "./steps/efi.js";
import { launchStep } from "./steps/launch.js";
import { portStep } from "./steps/port.js";
import { shutdownStep } from "./steps/shutdown.js";
import { tpmStep } from "./steps/tpm.js";
import { vncPasswordStep } from "./steps/vnc-password.js";
import { checkTpmOptions } from "./tpm.js";

const { config } = qemuErrors;

/** "6000" as the user wrote it, or "6000, the default". */
function orDefault(value: number | undefined, fallback: number): string {
  return value === undefined ? `${fallback}, the default` : String(value);
}

export const qemuBuilder: BuilderRuntime<QemuOptions> = {
  prepare(o) {
    if (!o.iso_url && !o.iso_urls?.length)
      throw config(
        "iso_url (or iso_urls) is required",
        "Set iso_url to the installer ISO or, with disk_image: true, the disk image.",
      );
    if (o.use_backing_file && !o.disk_image)
      throw config(
        "use_backing_file needs disk_image: true",
        "Set disk_image: true, or remove use_backing_file.",
      );
    if (o.use_backing_file && o.format !== "qcow2")
      throw config("use_backing_file needs format: qcow2", "Set format: qcow2, or remove use_backing_file.");
    if (o.host_port_min > o.host_port_max)
      throw config("host_port_min is greater than host_port_max", "Set host_port_min ≤ host_port_max.");
    if (vncRange(o).min > vncRange(o).max)
      throw config(
        `vnc_port_min (${orDefault(o.vnc_port_min, VNC_PORT_MIN)}) is greater than vnc_port_max (${orDefault(o.vnc_port_max, VNC_PORT_MAX)})`,
        "Set vnc_port_min ≤ vnc_port_max (VNC display N listens on port 5900 + N).",
      );
    try {
      checkFloppyLabel(o.floppy_label);
    } catch (e) {
      throw config(messageOf(e), isKilnError(e) ? e.hint : undefined);
    }
    const tpmProblem = checkTpmOptions(o);
    if (tpmProblem) throw config(tpmProblem, "Set vtpm: true, or remove the option.");
    if (o.net_bridge && !o.ssh_host && o.communicator === "ssh")
      throw config(
        "with net_bridge, kiln cannot forward a port: set ssh_host",
        "Set ssh_host to the address the machine gets on the bridge.",
      );
    try {
      parseSize(o.disk_size);
      for (const s of o.disk_additional_size ?? []) parseSize(s);
    } catch (e) {
      throw config(`disk_size: ${messageOf(e)}`);
    }
    qemuErrors.duration("boot_wait", o.boot_wait);
    qemuErrors.duration("shutdown_timeout", o.shutdown_timeout);
    if (o.boot_key_interval !== undefined) qemuErrors.duration("boot_key_interval", o.boot_key_interval);
    // Syntax errors show before anything starts (expressions are rendered later; they never add <…>).
    checkBootCommand(o);
  },

  steps(o, ctx) {
    const provision = ctx.provisionStep();
    const before = [
      outputDirectoryStep(o),
      temporaryKeyStep(o),
      sourceStep(o),
      diskStep(o),
      efiStep(o),
      cdStep(o),
      floppyStep(o),
      httpStep(o),
      portStep(o),
      acceleratorStep(o),
      tpmStep(o),
      launchStep(o),
      vncPasswordStep(),
      bootStep(o),
      connectVmStep(o),
    ];
    const after = [clearAuthorizedKeysStep(o), shutdownStep(o), compactStep(o), finishOutputStep()];
    return [...before.map(qemuErrors.wrap), provision, ...after.map(qemuErrors.wrap)];
  },

  // Checkpoints (docs/checkpoints.md) and the up-to-date record beside output_directory.
  checkpoints: qemuCheckpoints,
  outputPath: qemuOutputPath,

  artifact(o, ctx): Artifact | undefined {
    const out = ctx.state.get(OUTPUT_DIR);
    const disks = ctx.state.get(DISKS);
    if (!out || !disks || !existsSync(out.final)) return undefined;
    const outDir = out.final;
    const files = disks.names.map((n) => join(outDir, n));
    if (ctx.state.has(EFI) && existsSync(join(outDir, "efivars.fd"))) files.push(join(outDir, "efivars.fd"));
    const name = vmName(o, ctx);
    return {
      builderType: "qemu",
      id: name,
      files,
      description: `VM files in directory: ${outDir}`,
      data: { output_directory: outDir, vm_name: name, format: o.format, disk_image: o.disk_image === true },
      async destroy() {
        for (const f of files) await rm(f, { force: true });
        await rm(outDir, { recursive: true, force: true });
      },
    };
  },
};
