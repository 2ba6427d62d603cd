/**
 * One step: write the artifact into the staged output directory. A real builder has a step like
 * this per thing it does (create the machine, wait for it, save the image …), each in its own
 * file, each with a cleanup for what it made.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Step } from "@kiln/core";
import { OUTPUT_DIR } from "@kiln/sdk";
import type { Options } from "../schema.js";
import { ARTIFACT_FILE } from "../state.js";

export function writeArtifactStep(o: Options): Step {
  return {
    name: "write artifact",
    async run(ctx) {
      const { staging } = ctx.state.require(OUTPUT_DIR);
      await writeFile(join(staging, "artifact.txt"), `${o.message}\n`);
      ctx.state.put(ARTIFACT_FILE, "artifact.txt");
      ctx.ui.say(`Wrote artifact.txt (${o.message.length} characters)`);
    },
  };
}
