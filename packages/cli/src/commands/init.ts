/**
 * `kiln init [file]`: install exactly the plugin packages a build file needs into the project
 * plugin folder (`<build file folder>/.kiln/plugins/`) with the user's own npm, and write
 * kiln.lock next to the build file. Re-running with everything in place runs no npm at all.
 */
import { existsSync, readdirSync } from "node:fs";
import { dirname, relative, resolve } from "node:path";
import { buildFileOf } from "../build-file.js";
import { type CommandContext, EXIT } from "../context.js";
import { ensurePlugins, LOCK_NAME } from "../install/index.js";
import { CLI_DIR, report } from "../shared.js";

/** The build file: the one given, else the only *.kiln.yaml / kiln.yaml / *.yaml with `kiln:` here. */
function findFile(ctx: CommandContext): string | undefined {
  const [given, ...extra] = ctx.positionals;
  if (extra.length) {
    ctx.stderr.write(`kiln init: unexpected argument "${extra[0]}"\nUsage: kiln init [--upgrade] [file]\n`);
    return undefined;
  }
  if (given) {
    const found = buildFileOf(given);
    if ("file" in found) return found.file;
    ctx.stderr.write(`kiln init: ${found.error}\n`);
    return undefined;
  }
  const names = readdirSync(process.cwd()).filter((n) => /\.ya?ml$/.test(n));
  const preferred = names.filter((n) => /(^|\.)kiln\.ya?ml$/.test(n));
  const pick = preferred.length === 1 ? preferred : names.length === 1 ? names : [];
  if (pick[0]) return pick[0];
  ctx.stderr.write(
    `kiln init: ${names.length ? `several YAML files here (${names.join(", ")}); name the build file` : "no build file here; name it"}\nUsage: kiln init [--upgrade] [file]\n`,
  );
  return undefined;
}

export async function run(ctx: CommandContext): Promise<number> {
  const file = findFile(ctx);
  if (!file) return EXIT.INVALID;
  if (!existsSync(file)) {
    ctx.stderr.write(`kiln init: ${file}: no such file\n`);
    return EXIT.INVALID;
  }
  const t0 = Date.now();
  try {
    const res = await ensurePlugins({
      file,
      mode: "init",
      upgrade: ctx.values.upgrade === true,
      log: (l) => ctx.stderr.write(`${l}\n`),
      searchDirs: [CLI_DIR],
      allowScripts: ctx.values["allow-scripts"] === true,
    });
    const lockRel = relative(process.cwd(), resolve(dirname(resolve(file)), LOCK_NAME)) || LOCK_NAME;
    const out: string[] = [];
    const w1 = Math.max(0, ...res.served.map((s) => `${s.kind} ${s.type}`.length));
    for (const s of res.served) {
      out.push(
        `  ${`${s.kind} ${s.type}`.padEnd(w1)}  ${s.name}@${s.version}${s.inFolder ? "" : `  (from ${s.dir})`}`,
      );
    }
    const head =
      res.npmRuns === 0
        ? `Plugins are up to date${res.lock ? ` (${lockRel})` : ""}:`
        : `Plugins installed${res.lock ? `, locked in ${lockRel}` : ""} (${((Date.now() - t0) / 1000).toFixed(1)}s):`;
    ctx.stdout.write(`${[head, ...(out.length ? out : ["  (the file uses no plugins)"])].join("\n")}\n`);
    return EXIT.OK;
  } catch (err) {
    return report(ctx, err);
  }
}
