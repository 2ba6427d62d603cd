/**
 * The floppy options of a source (Packer's names), their schema, and the step that makes the
 * image for a builder to attach.
 */
import { join } from "node:path";
import type { Step } from "@kiln/core";
import type { FloppyOptions } from "../schemas.js";
import { FLOPPY_IMAGE } from "../state.js";
import { makeFloppy } from "./make.js";

export type { FloppyOptions };

/** Whether the options ask for a floppy. */
export function wantsFloppy(o: FloppyOptions): boolean {
  return !!(o.floppy_files?.length || o.floppy_dirs?.length || Object.keys(o.floppy_content ?? {}).length);
}

/**
 * Make the floppy image (when the options ask for one) in a temporary folder of the run; the
 * builder attaches what it finds under FLOPPY_IMAGE.
 */
export function floppyStep(o: FloppyOptions): Step {
  return {
    name: "floppy",
    async run(ctx) {
      if (!wantsFloppy(o)) return;
      const content = o.floppy_content ? ctx.render(o.floppy_content) : undefined;
      const dir = await ctx.tempDir("kiln-floppy-");
      const label = o.floppy_label;
      ctx.ui.say(`Creating a floppy labelled ${label}`);
      const r = await makeFloppy({
        ...(o.floppy_files ? { files: o.floppy_files } : {}),
        ...(o.floppy_dirs ? { dirs: o.floppy_dirs } : {}),
        ...(content ? { content } : {}),
        label,
        output: join(dir, "floppy.img"),
        baseDir: ctx.baseDir,
        signal: ctx.signal,
      });
      ctx.ui.message(
        `Floppy with ${r.files.length} file(s), ${(r.used / 1024).toFixed(1)} KiB used: ${r.files.join(", ")}`,
      );
      ctx.state.put(FLOPPY_IMAGE, r.output);
    },
  };
}
