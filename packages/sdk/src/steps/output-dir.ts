/**
 * The staged output directory, for builders that write files: everything goes into a hidden
 * sibling of `output_directory`, renamed into place by finishOutputStep at the very end, so a
 * failed or interrupted build leaves no output directory and an existing one is replaced only
 * with --force, and only by a build that succeeded.
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, rename, rm, rmdir } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { KilnError, type RunContext, type Step } from "@kiln/core";
import { OUTPUT_DIR } from "../state.js";

const EXISTS = "KILN_OUTPUT_EXISTS";

/** Where the output goes: `output_directory` (relative to the build file), default `output-<source>`. */
export function outputDirectory(o: { output_directory?: string }, ctx: RunContext): string {
  return resolve(ctx.baseDir, o.output_directory ?? `output-${ctx.run.source}`);
}

export function outputDirectoryStep(o: { output_directory?: string }): Step {
  let created: string | undefined;
  let staging: string | undefined;
  return {
    name: "output directory",
    async run(ctx) {
      const final = outputDirectory(o, ctx);
      if (existsSync(final)) {
        if (!ctx.force)
          throw new KilnError(EXISTS, `the output directory ${final} already exists`, {
            hint: "Remove it, set another output_directory, or run kiln build --force to replace it at the end of a successful build.",
          });
        ctx.ui.say(
          `The output directory ${final} exists; it will be replaced when the build succeeds (--force).`,
        );
      }
      staging = join(dirname(final), `.${basename(final)}.kiln-${randomBytes(4).toString("hex")}`);
      created = await mkdir(staging, { recursive: true });
      ctx.state.put(OUTPUT_DIR, { final, staging });
    },
    async cleanup(ctx) {
      const out = ctx.state.get(OUTPUT_DIR);
      if (!staging) return;
      await rm(staging, { recursive: true, force: true });
      // Folders made for a nested output_directory go too when the build did not finish.
      if (created && created !== staging && out && !existsSync(out.final)) {
        for (let d = dirname(staging); d.startsWith(created); d = dirname(d)) {
          try {
            await rmdir(d);
          } catch {
            break;
          }
        }
      }
    },
  };
}

/** Move the staged output into place: the last step of a builder that writes files. */
export function finishOutputStep(): Step {
  return {
    name: "finish output",
    async run(ctx) {
      const { final, staging } = ctx.state.require(OUTPUT_DIR);
      if (existsSync(final)) {
        if (!ctx.force)
          throw new KilnError(EXISTS, `the output directory ${final} appeared during the build`, {
            hint: "Remove it, or run with --force to replace it.",
          });
        ctx.ui.say(`Replacing ${final} (--force)`);
        await rm(final, { recursive: true, force: true });
      }
      await rename(staging, final);
      ctx.ui.say(`The output is in ${final}`);
    },
  };
}
