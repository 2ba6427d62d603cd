/**
 * The builder's run time: checks (prepare), the list of steps, the artifact.
 *
 *   output directory (staged) → provisioners → write artifact → output moved into place
 *
 * Every step may have a cleanup; kiln runs the cleanup of every step that began, in reverse, on
 * success, failure and Ctrl-C — so a failed build leaves no output directory behind.
 */
import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { BuilderRuntime } from "@kiln/core";
import { finishOutputStep, OUTPUT_DIR, outputDirectoryStep } from "@kiln/sdk";
import { errors } from "./errors.js";
import type { Options } from "./schema.js";
import { ARTIFACT_FILE } from "./state.js";
import { writeArtifactStep } from "./steps/write-artifact.js";

export const runtime: BuilderRuntime<Options> = {
  prepare(o, ctx) {
    if (o.api_token) ctx.secret(o.api_token);
    if (o.message.trim() === "") throw errors.config("message is empty", "Write something in message.");
  },

  steps: (o, ctx) => [
    errors.wrap(outputDirectoryStep(o)),
    ctx.provisionStep(),
    errors.wrap(writeArtifactStep(o)),
    errors.wrap(finishOutputStep()),
  ],

  artifact(_o, ctx) {
    const name = ctx.state.get(ARTIFACT_FILE);
    const out = ctx.state.get(OUTPUT_DIR);
    if (!name || !out) return undefined;
    const file = join(out.final, name);
    return {
      builderType: "__TYPE__",
      id: file,
      files: [file],
      description: `__TYPE__: ${file}`,
      destroy: () => rm(out.final, { recursive: true, force: true }),
    };
  },
};
