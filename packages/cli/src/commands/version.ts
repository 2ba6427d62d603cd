import { coreVersion } from "@kiln/core";
import { type CommandContext, EXIT } from "../context.js";
import { cliVersion } from "../own.js";

export async function run(ctx: CommandContext): Promise<number> {
  ctx.stdout.write(`kiln ${cliVersion()} (@kiln/core ${coreVersion()}, node ${process.versions.node})\n`);
  return EXIT.OK;
}
