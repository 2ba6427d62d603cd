/**
 * The floppy options of a source (Packer's names), their schema, and the step that makes the
 * image for a builder to attach.
 */
import { join } from "node:path";
import type { RunContext, Step } from "@kiln/core";
import type { JsonSchema } from "../schemas.js";
import { DEFAULT_FLOPPY_LABEL, makeFloppy } from "./make.js";

export interface FloppyOptions {
  floppy_files?: string[];
  floppy_dirs?: string[];
  floppy_content?: Record<string, string>;
  floppy_label?: string;
}

const strList = (description: string): JsonSchema => ({
  type: "array",
  items: { type: "string" },
  description,
});

/** Schema of the floppy options, for a builder to spread into its own. */
export const FLOPPY_OPTIONS: Record<string, JsonSchema> = {
  floppy_files: strList(
    "Files to put in the root of a 1.44 MB floppy (e.g. Autounattend.xml); a directory adds all the files below it, flattened; globs (*, ?, […]) allowed. Relative to the build file.",
  ),
  floppy_dirs: strList("Directories (or globs) to put on the floppy with their tree, e.g. drivers."),
  floppy_content: {
    type: "object",
    additionalProperties: { type: "string" },
    description:
      "Files to create on the floppy: path → text (expressions allowed). Wins over floppy_files/floppy_dirs at the same path.",
  },
  floppy_label: {
    type: "string",
    minLength: 1,
    maxLength: 11,
    description: `FAT volume label of the floppy. Default: ${DEFAULT_FLOPPY_LABEL}.`,
  },
};

/** Whether the options ask for a floppy. */
export function wantsFloppy(o: FloppyOptions): boolean {
  return !!(o.floppy_files?.length || o.floppy_dirs?.length || Object.keys(o.floppy_content ?? {}).length);
}

export interface FloppyStepOptions {
  /** Receives the image (a raw 1.44 MB file in a run temporary folder) to attach to the machine. */
  attach(image: string, ctx: RunContext): void;
}

/** Make the floppy image (when the options ask for one) in a temporary folder of the run. */
export function floppyStep(o: FloppyOptions, how: FloppyStepOptions): Step {
  return {
    name: "floppy",
    async run(ctx) {
      if (!wantsFloppy(o)) return;
      const content = o.floppy_content ? ctx.render(o.floppy_content) : undefined;
      const dir = await ctx.tempDir("kiln-floppy-");
      const label = o.floppy_label ?? DEFAULT_FLOPPY_LABEL;
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
      how.attach(r.output, ctx);
    },
  };
}
