/**
 * `kiln plugins list | install <spec>… | remove <name>…`: the project plugin folder
 * (`.kiln/plugins/` next to the build files, with kiln.lock) of the current folder, or --dir.
 */
import { existsSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { type CommandContext, EXIT } from "../context.js";
import { installSpecs, LOCK_NAME, pluginFolder, readLock, removePackages } from "../install/index.js";
import { readFolderManifest, readJson } from "../install/lock.js";
import { report } from "../shared.js";

const USAGE =
  "kiln plugins list | install <package[@range]>... | remove <package>...  [--dir <project folder>] [--json]";

export async function run(ctx: CommandContext): Promise<number> {
  const [sub, ...args] = ctx.positionals;
  const dir = resolve((ctx.values.dir as string | undefined) ?? process.cwd());
  const log = (l: string) => ctx.stderr.write(`${l}\n`);
  try {
    switch (sub) {
      case "list":
      case "ls":
        return list(ctx, dir);
      case "install":
      case "add":
        if (!args.length) break;
        await installSpecs(dir, args, log, { allowScripts: ctx.values["allow-scripts"] === true });
        return list(ctx, dir);
      case "remove":
      case "rm":
      case "uninstall":
        if (!args.length) break;
        await removePackages(dir, args, log);
        return list(ctx, dir);
      default:
        ctx.stderr.write(
          `kiln plugins: ${sub ? `unknown subcommand "${sub}"` : "name a subcommand"}\nUsage: ${USAGE}\n`,
        );
        return EXIT.INVALID;
    }
  } catch (err) {
    return report(ctx, err);
  }
  ctx.stderr.write(`kiln plugins ${sub}: name at least one package\nUsage: ${USAGE}\n`);
  return EXIT.INVALID;
}

function list(ctx: CommandContext, dir: string): number {
  const folder = pluginFolder(dir);
  const lock = readLock(dir);
  const manifest = existsSync(join(folder, "package.json")) ? readFolderManifest(folder) : undefined;
  const names = new Set([...Object.keys(manifest?.dependencies ?? {}), ...Object.keys(lock?.plugins ?? {})]);
  names.delete("@kiln/core");
  const rows = [...names].sort().map((name) => {
    const pj = readJson<{ version?: string; kiln?: Record<string, unknown> }>(
      join(folder, "node_modules", name, "package.json"),
    );
    const locked = lock?.plugins[name];
    const provides = Object.entries(pj?.kiln ?? locked?.provides ?? {})
      .filter(([k, v]) => k !== "api" && Array.isArray(v))
      .map(([k, v]) => `${k}: ${(v as string[]).join(", ")}`)
      .join("; ");
    return {
      name,
      range: manifest?.dependencies[name] ?? locked?.range ?? "",
      installed: pj?.version ?? null,
      locked: locked?.version ?? null,
      integrity: locked?.integrity ?? null,
      provides,
    };
  });
  if (ctx.values.json) {
    ctx.stdout.write(
      `${JSON.stringify({ folder, lock: lock ? join(dir, LOCK_NAME) : null, plugins: rows }, null, 2)}\n`,
    );
    return EXIT.OK;
  }
  const where = relative(process.cwd(), folder) || folder;
  if (!rows.length) {
    ctx.stdout.write(
      `No plugins installed in ${where}. Run \`kiln init <build file>\` or \`kiln plugins install <package>\`.\n`,
    );
    return EXIT.OK;
  }
  const w = Math.max(...rows.map((r) => `${r.name}@${r.installed ?? "-"}`.length));
  const lines = rows.map((r) => {
    const state = !r.installed
      ? "  (not installed: run kiln init)"
      : r.locked && r.locked !== r.installed
        ? `  (kiln.lock has ${r.locked})`
        : "";
    return `  ${`${r.name}@${r.installed ?? r.locked ?? "-"}`.padEnd(w)}  ${r.range.padEnd(10)} ${r.provides}${state}`;
  });
  ctx.stdout.write(`Plugins in ${where}${lock ? ` (${LOCK_NAME})` : ""}:\n${lines.join("\n")}\n`);
  return EXIT.OK;
}
