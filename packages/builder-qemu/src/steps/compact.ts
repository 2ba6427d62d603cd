/**
 * The compact step: each working disk through qemu-img convert (compressed with
 * disk_compression on qcow2) into its final name in the staging folder — or just renamed with
 * skip_compaction or use_backing_file, unless the disk sits on checkpoint layers (then it is
 * converted, uncompressed, so the output does not need the cache); efi_drop_efivars drops the
 * EFI variables.
 */
import { rename, rm, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { CHECKPOINTS, formatBytes, type Step } from "@kiln/core";
import { OUTPUT_DIR, SOURCE_FILE } from "@kiln/sdk";
import { runTool } from "../proc.js";
import { progressParser } from "../progress.js";
import type { QemuOptions } from "../schema.js";
import { DISKS, EFI, SOURCE_FORMAT } from "../state.js";

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
        // A disk that sits on checkpoint layers in the cache is always converted: the output must
        // stand alone (with use_backing_file, on the original image only).
        const layered = ctx.state.has(CHECKPOINTS);
        if ((o.skip_compaction || o.use_backing_file) && !layered) {
          await rename(d.path, final);
          continue;
        }
        const source = o.use_backing_file ? resolve(ctx.state.require(SOURCE_FILE).path) : undefined;
        const plain = o.skip_compaction || o.use_backing_file;
        ctx.ui.say(
          plain
            ? `Writing the disk into ${name}${source ? ` as an overlay on ${source}` : ""}, without the checkpoint layers...`
            : `Compacting the disk into ${name}${compress ? " (compressed)" : ""}...`,
        );
        const before = (await stat(d.path)).size;
        await runTool(
          "qemu-img",
          [
            "convert",
            "-p",
            "-O",
            o.format,
            ...(source ? ["-B", source, "-F", ctx.state.get(SOURCE_FORMAT) ?? "qcow2"] : []),
            ...(compress && !plain ? ["-c"] : []),
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
