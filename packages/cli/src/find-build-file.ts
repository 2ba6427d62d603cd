/**
 * The build file of a command that may be given none (`kiln init`, `kiln schema --write`): the
 * one given (a folder means its build file, as everywhere), else the only *.kiln.yaml /
 * kiln.yaml / YAML file here.
 */
import { readdirSync } from "node:fs";
import { buildFileOf } from "./build-file.js";
import type { CommandContext } from "./context.js";

/** The build file: the one given, else the only *.kiln.yaml / kiln.yaml / *.yaml here; undefined after saying why. */
export function findBuildFile(ctx: CommandContext, command: string, usage: string): string | undefined {
  const [given, ...extra] = ctx.positionals;
  if (extra.length) {
    ctx.stderr.write(`kiln ${command}: unexpected argument "${extra[0]}"\nUsage: ${usage}\n`);
    return undefined;
  }
  if (given) {
    const found = buildFileOf(given);
    if ("file" in found) return found.file;
    ctx.stderr.write(`kiln ${command}: ${found.error}\n`);
    return undefined;
  }
  const names = readdirSync(process.cwd()).filter((n) => /\.ya?ml$/.test(n));
  const preferred = names.filter((n) => /(^|\.)kiln\.ya?ml$/.test(n));
  const pick = preferred.length === 1 ? preferred : names.length === 1 ? names : [];
  if (pick[0]) return pick[0];
  ctx.stderr.write(
    `kiln ${command}: ${names.length ? `several YAML files here (${names.join(", ")}); name the build file` : "no build file here; name it"}\nUsage: ${usage}\n`,
  );
  return undefined;
}
