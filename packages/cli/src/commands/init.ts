/**
 * `kiln init [file]`: install exactly the plugin packages a build file needs into the project
 * plugin folder (`<build file folder>/.kiln/plugins/`) with the user's own npm, and write
 * kiln.lock next to the build file. Re-running with everything in place runs no npm at all.
 */
import { existsSync } from "node:fs";
import { dirname, relative, resolve } from "node:path";
import { isKilnError } from "@kiln/core";
import { type CommandContext, EXIT } from "../context.js";
import { findBuildFile } from "../find-build-file.js";
import { ensurePlugins, LOCK_NAME } from "../install/index.js";
import { describeWrite, writeProjectSchema } from "../schema/write.js";
import { CLI_DIR, report } from "../shared.js";

export async function run(ctx: CommandContext): Promise<number> {
  const file = findBuildFile(ctx, "init", "kiln init [--upgrade] [file]");
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
    // The editor schema with the options of the plugins just installed; the plugins are in place
    // whether or not it can be written.
    try {
      const written = writeProjectSchema(file, (l) => ctx.stderr.write(`kiln init: ${l}\n`));
      const shown = (p: string) => relative(process.cwd(), p) || p;
      ctx.stdout.write(`${describeWrite(file, written, shown).join("\n")}\n`);
    } catch (err) {
      if (!isKilnError(err)) throw err;
      ctx.stderr.write(`kiln init: warning: the editor schema was not written: ${err.message}\n`);
    }
    return EXIT.OK;
  } catch (err) {
    return report(ctx, err);
  }
}
