/**
 * The disk step: in the staging folder (the run's checkpoint scratch folder with checkpoints), a new disk of disk_size (ISO installs), or the disk
 * image copied into `format` (or a qcow2 overlay on it, use_backing_file) and grown to
 * disk_size; then the disk_additional_size disks.
 */
import { join, resolve } from "node:path";
import { CHECKPOINTS, formatBytes, type Step } from "@kiln/core";
import { OUTPUT_DIR, SOURCE_FILE } from "@kiln/sdk";
import type { VmDisk } from "../args.js";
import { vmName } from "../defaults.js";
import { runTool } from "../proc.js";
import { progressParser } from "../progress.js";
import type { QemuOptions } from "../schema.js";
import { parseSize } from "../size.js";
import { DISKS, SOURCE_FORMAT } from "../state.js";

const IMG = "qemu-img";

async function imageInfo(file: string, signal: AbortSignal): Promise<{ format: string; size: number }> {
  const { stdout } = await runTool(IMG, ["info", "--output=json", file], { signal, what: `read ${file}` });
  const j = JSON.parse(stdout) as { format: string; "virtual-size": number };
  return { format: j.format, size: j["virtual-size"] };
}

export function diskStep(o: QemuOptions): Step {
  return {
    name: "disk",
    async run(ctx) {
      const { staging } = ctx.state.require(OUTPUT_DIR);
      // With checkpoints, the working disks live on the cache's file system: a checkpoint links them.
      const dir = ctx.state.get(CHECKPOINTS)?.scratch ?? staging;
      const name = vmName(o, ctx);
      const format = o.format;
      const work = join(dir, `${name}.work`);
      const want = parseSize(o.disk_size);
      const createArgs = o.qemu_img_args?.create ?? [];
      if (o.disk_image) {
        const src = resolve(ctx.state.require(SOURCE_FILE).path);
        const info = await imageInfo(src, ctx.signal);
        ctx.state.put(SOURCE_FORMAT, info.format);
        if (o.use_backing_file) {
          ctx.ui.say(`Creating a qcow2 overlay on ${src}`);
          await runTool(IMG, ["create", "-f", "qcow2", "-b", src, "-F", info.format, ...createArgs, work], {
            signal: ctx.signal,
            what: "create the overlay disk",
          });
        } else {
          ctx.ui.say(`Copying the disk image into ${format}`);
          await runTool(IMG, ["convert", "-p", "-O", format, src, work], {
            signal: ctx.signal,
            what: "copy the disk image",
            onStdout: progressParser(ctx, "copy", "Copying disk image"),
          });
        }
        if (!o.skip_resize_disk) {
          if (want > info.size) {
            ctx.ui.say(`Resizing the disk to ${formatBytes(want)}`);
            await runTool(
              IMG,
              ["resize", "-f", format, ...(o.qemu_img_args?.resize ?? []), work, String(want)],
              { signal: ctx.signal, what: "resize the disk" },
            );
          } else if (want < info.size) {
            ctx.ui.message(
              `disk_size ${formatBytes(want)} is smaller than the image (${formatBytes(info.size)}); keeping the image's size.`,
            );
          }
        }
      } else {
        ctx.ui.say(`Creating a ${formatBytes(want)} ${format} disk`);
        await runTool(IMG, ["create", "-f", format, ...createArgs, work, String(want)], {
          signal: ctx.signal,
          what: "create the disk",
        });
      }
      const disks: VmDisk[] = [{ path: work, format }];
      const names = [name];
      for (const [i, s] of (o.disk_additional_size ?? []).entries()) {
        const p = join(dir, `${name}-${i + 1}.work`);
        await runTool(IMG, ["create", "-f", format, ...createArgs, p, String(parseSize(s))], {
          signal: ctx.signal,
          what: "create an additional disk",
        });
        disks.push({ path: p, format });
        names.push(`${name}-${i + 1}`);
      }
      ctx.state.put(DISKS, { disks, names });
    },
  };
}
