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
import type { Artifact, BuilderRuntime } from "@kiln/core";
import {
  cdStep,
  clearAuthorizedKeysStep,
  finishOutputStep,
  floppyStep,
  OUTPUT_DIR,
  outputDirectoryStep,
  temporaryKeyStep,
} from "@kiln/sdk";
import { qemuCheck } from "./check.js";
import { qemuCheckpoints, qemuOutputPath } from "./checkpoint.js";
import { vmName } from "./defaults.js";
import { qemuErrors } from "./errors.js";
import type { QemuOptions } from "./schema.js";
import { httpStep, sourceStep } from "./shared-steps.js";
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

export const qemuBuilder: BuilderRuntime<QemuOptions> = {
  // Every configuration check is in check.ts: validate runs them, and the build before it starts.
  check: qemuCheck,

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
