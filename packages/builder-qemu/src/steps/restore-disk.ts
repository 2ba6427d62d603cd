/**
 * The restore-disk step (resuming a checkpoint): a fresh qcow2 overlay on each of the
 * checkpoint's disk layers, in the run's scratch folder, so the cache is never written; the
 * EFI variables and the floppy copied from the checkpoint (the machine may write them), the
 * cd_files ISO used where it is (read only).
 */
import { existsSync } from "node:fs";
import { copyFile } from "node:fs/promises";
import { join } from "node:path";
import { CHECKPOINTS, type CheckpointInfo, CheckpointUnusableError, type Step } from "@kiln/core";
import { CD_IMAGE, FLOPPY_IMAGE, OUTPUT_DIR } from "@kiln/sdk";
import type { VmDisk } from "../args.js";
import { vmName } from "../defaults.js";
import { findOvmf } from "../efi.js";
import { runTool } from "../proc.js";
import { folderOf, savedVm } from "../saved.js";
import type { QemuOptions } from "../schema.js";
import { DISKS, EFI, SOURCE_FORMAT } from "../state.js";

export function restoreDiskStep(o: QemuOptions, point: CheckpointInfo): Step {
  return {
    name: "restore disk",
    async run(ctx) {
      const saved = savedVm(point);
      const { scratch } = ctx.state.require(CHECKPOINTS);
      const { staging } = ctx.state.require(OUTPUT_DIR);
      const name = vmName(o, ctx);
      const names = [name, ...(o.disk_additional_size ?? []).map((_, i) => `${name}-${i + 1}`)];
      if (names.length !== saved.disks.length)
        throw new CheckpointUnusableError(
          `it has ${saved.disks.length} disk(s), the machine now ${names.length}`,
        );
      const disks: VmDisk[] = [];
      for (const [i, d] of saved.disks.entries()) {
        const layer = join(point.dir, d.file);
        if (!existsSync(layer)) throw new CheckpointUnusableError(`${d.file} is missing`);
        const work = join(scratch, `${names[i]}.work`);
        await runTool("qemu-img", ["create", "-q", "-f", "qcow2", "-b", layer, "-F", d.format, work], {
          signal: ctx.signal,
          what: "put an overlay on the checkpoint's disk",
        }).catch((e: unknown) => {
          if (ctx.signal.aborted) throw e;
          throw new CheckpointUnusableError(`its disk ${d.file} cannot be opened: ${(e as Error).message}`);
        });
        disks.push({ path: work, format: "qcow2" });
      }
      ctx.state.put(DISKS, { disks, names });
      if (saved.sourceFormat) ctx.state.put(SOURCE_FORMAT, saved.sourceFormat);
      if (saved.efivars) {
        const fw = findOvmf(o.efi_firmware_code, o.efi_firmware_vars);
        if (!fw) throw new CheckpointUnusableError("it was saved with OVMF, which is not found now");
        const vars = join(staging, "efivars.fd");
        await copyFile(join(point.dir, saved.efivars), vars);
        ctx.state.put(EFI, { code: fw.code, vars });
      }
      if (saved.floppy) {
        const floppy = join(scratch, "floppy.img");
        await copyFile(join(point.dir, saved.floppy), floppy);
        ctx.state.put(FLOPPY_IMAGE, floppy);
      }
      if (saved.cd)
        ctx.state.put(CD_IMAGE, { path: join(folderOf(point, saved.cd.key), saved.cd.file), files: [] });
      ctx.ui.say(`Restoring the machine from checkpoint ${point.index} (after ${point.step}): ${point.dir}`);
    },
  };
}
