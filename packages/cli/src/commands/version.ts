import { readFileSync } from "node:fs";
import { coreVersion } from "@kiln/core";
import { type CommandContext, EXIT } from "../context.js";

export async function run(ctx: CommandContext): Promise<number> {
  const cli = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")).version;
  ctx.stdout.write(`kiln ${cli} (@kiln/core ${coreVersion()}, node ${process.versions.node})\n`);
  return EXIT.OK;
}
