/** The build file a command without one means: the only *.kiln.yaml / kiln.yaml / YAML file here. */
import { readdirSync } from "node:fs";
import type { CommandContext } from "./context.js";

/** The build file: the one given, else the only *.kiln.yaml / kiln.yaml / *.yaml here; undefined after saying why. */
export function findBuildFile(ctx: CommandContext, command: string, usage: string): string | undefined {
  const [given, ...extra] = ctx.positionals;
  if (extra.length) {
    ctx.stderr.write(`kiln ${command}: unexpected argument "${extra[0]}"\nUsage: ${usage}\n`);
    return undefined;
  }
  if (given) return given;
  const names = readdirSync(process.cwd()).filter((n) => /\.ya?ml$/.test(n));
  const preferred = names.filter((n) => /(^|\.)kiln\.ya?ml$/.test(n));
  const pick = preferred.length === 1 ? preferred : names.length === 1 ? names : [];
  if (pick[0]) return pick[0];
  ctx.stderr.write(
    `kiln ${command}: ${names.length ? `several YAML files here (${names.join(", ")}); name the build file` : "no build file here; name it"}\nUsage: ${usage}\n`,
  );
  return undefined;
}
