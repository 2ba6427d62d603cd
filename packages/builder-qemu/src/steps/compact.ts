/**
 * The compact step: each working disk through qemu-img convert (compressed with
 * disk_compression on qcow2) into its final name in the staging folder — or just renamed with
 * skip_compaction or use_backing_file; efi_drop_efivars drops the EFI variables.
 */
import { rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { formatBytes, type Step } from "@kiln/core";
import { OUTPUT_DIR } from "@kiln/sdk";
import { runTool } from "../proc.js";
import { progressParser } from "../progress.js";
import type { QemuOptions } from "../schema.js";
import { DISKS, EFI } from "../state.js";

export function compactStep(o: QemuOptions): Step {
  return {
    name: "compact",
    async run(ctx) {
      const { staging } = ctx.state.require(OUTPUT_DIR);
      const { disks, names } = ctx.state.require(DISKS);
      const compress = o.disk_compression === true && o.format === "qcow2";
      for (const [i, d] of disks.entries()) {
        const name = names[i] as string;
        const final = join(staging, name);
        if (o.skip_compaction || o.use_backing_file) {
          await rename(d.path, final);
          continue;
        }
        ctx.ui.say(`Compacting the disk into ${name}${compress ? " (compressed)" : ""}...`);
        const before = (await stat(d.path)).size;
        await runTool(
          "qemu-img",
          [
            "convert",
            "-p",
            "-O",
            o.format,
            ...(compress ? ["-c"] : []),
            ...(o.qemu_img_args?.convert ?? []),
            d.path,
            final,
          ],
          {
            signal: ctx.signal,
            what: "compact the disk",
            onStdout: progressParser(ctx, `compact-${i}`, "Compacting disk"),
          },
        );
        await rm(d.path, { force: true });
        ctx.ui.message(`${formatBytes(before)} → ${formatBytes((await stat(final)).size)}`);
      }
      const efi = ctx.state.get(EFI);
      if (efi && o.efi_drop_efivars) await rm(efi.vars, { force: true });
    },
  };
}
