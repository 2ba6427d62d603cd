/**
 * `kiln cache list | prune [--keep-size SIZE]`: the checkpoints in kiln's cache
 * ($KILN_CACHE_DIR, $XDG_CACHE_HOME/kiln or ~/.cache/kiln; --cache-dir elsewhere).
 */
import { dirname, resolve } from "node:path";
import {
  type BuilderRuntime,
  type CacheEntry,
  CheckpointStore,
  defaultCacheDir,
  formatBytes,
  loadPlugin,
  messageOf,
  PluginResolver,
  parsePackageSpec,
  pruneCache,
} from "@kiln/core";
import { type CommandContext, EXIT } from "../context.js";
import { resolverOptions } from "../shared.js";

const UNITS: Record<string, number> = { "": 1, B: 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/** `20GiB`, `20G`, `500MB`, `1.5T`, `1048576` → bytes (binary units; "B", "iB" optional). */
export function parseByteSize(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?B)?\s*$/i.exec(text);
  if (!m) return undefined;
  const unit = UNITS[(m[2] ?? "").toUpperCase()];
  return unit === undefined ? undefined : Math.round(Number(m[1]) * unit);
}

function age(d: Date): string {
  const s = Math.max(0, (Date.now() - d.getTime()) / 1000);
  if (s < 90) return `${Math.round(s)}s ago`;
  if (s < 5400) return `${Math.round(s / 60)}m ago`;
  if (s < 129600) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

function table(entries: CacheEntry[]): string {
  const rows = entries.map((e) => [
    e.meta.key.slice(0, 12),
    e.meta.run,
    `${e.meta.index}:${e.meta.step}`,
    formatBytes(e.meta.size),
    age(e.used),
  ]);
  const head = ["KEY", "RUN", "CHECKPOINT", "SIZE", "USED"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  return [head, ...rows]
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i] as number))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

/**
 * An external checkpoint (partly outside the cache: a hypervisor snapshot, a cloud image) is
 * removed by the builder that made it: its plugin, found from the build file's folder as a
 * build finds it, gets the checkpoint's data. True when it removed it.
 */
async function discard(entry: CacheEntry, ctx: CommandContext): Promise<boolean> {
  try {
    const fromDir = dirname(entry.meta.buildFile);
    const { name } = parsePackageSpec(entry.meta.plugin);
    const pkg = new PluginResolver({ fromDir, ...resolverOptions(fromDir) }).loadPackage(name);
    if (!pkg) throw new Error(`${name} is not installed where ${entry.meta.buildFile} is`);
    const component = (await loadPlugin(pkg)).get("builder", entry.meta.builder);
    const runtime = (await component?.create()) as BuilderRuntime | undefined;
    if (!runtime?.checkpoints?.discard) throw new Error(`${name} cannot remove its checkpoints`);
    await runtime.checkpoints.discard(entry.meta.data, { signal: new AbortController().signal });
    return true;
  } catch (e) {
    ctx.stderr.write(`kiln cache prune: ${entry.meta.key.slice(0, 12)}: ${messageOf(e)}\n`);
    return false;
  }
}

export async function run(ctx: CommandContext): Promise<number> {
  const usage = "kiln cache list [--json] | prune [--keep-size 20GiB]  [--cache-dir DIR]";
  const [sub, ...extra] = ctx.positionals;
  if ((sub !== "list" && sub !== "prune") || extra.length > 0) {
    ctx.stderr.write(
      `kiln cache: ${sub ? `unknown subcommand "${[sub, ...extra].join(" ")}"` : "say list or prune"}\nUsage: ${usage}\n`,
    );
    return EXIT.INVALID;
  }
  const keepText = ctx.values["keep-size"] as string | undefined;
  const keep = keepText === undefined ? undefined : parseByteSize(keepText);
  if (keepText !== undefined && (sub !== "prune" || keep === undefined)) {
    ctx.stderr.write(
      sub !== "prune"
        ? `kiln cache list: --keep-size belongs to prune\nUsage: ${usage}\n`
        : `kiln cache prune: --keep-size takes a size such as 20GiB, 500M or 1073741824, not "${keepText}"\n`,
    );
    return EXIT.INVALID;
  }
  const dir =
    typeof ctx.values["cache-dir"] === "string" ? resolve(ctx.values["cache-dir"]) : defaultCacheDir();
  let store: CheckpointStore;
  try {
    store = await CheckpointStore.open(dir);
  } catch (e) {
    ctx.stderr.write(`kiln cache: ${messageOf(e)}\n`);
    return EXIT.INVALID;
  }
  if (sub === "list") {
    const entries = await store.list();
    if (ctx.values.json) {
      ctx.stdout.write(
        `${JSON.stringify(
          entries.map((e) => ({
            key: e.meta.key,
            run: e.meta.run,
            buildFile: e.meta.buildFile,
            index: e.meta.index,
            step: e.meta.step,
            parent: e.meta.parent?.key ?? null,
            bytes: e.meta.size,
            created: e.meta.created,
            used: e.used.toISOString(),
            dir: e.dir,
          })),
          null,
          2,
        )}\n`,
      );
      return EXIT.OK;
    }
    const total = entries.reduce((n, e) => n + e.meta.size, 0);
    ctx.stdout.write(
      entries.length
        ? `${table(entries)}\n${entries.length} checkpoint${entries.length === 1 ? "" : "s"}, ${formatBytes(total)} in ${store.dir}\n`
        : `No checkpoints in ${store.dir}\n`,
    );
    return EXIT.OK;
  }
  const r = await pruneCache(store, {
    ...(keep === undefined ? {} : { keepBytes: keep }),
    discard: (e) => discard(e, ctx),
  });
  ctx.stdout.write(
    `Removed ${r.removed.length} checkpoint${r.removed.length === 1 ? "" : "s"} (${formatBytes(r.freedBytes)}); ${formatBytes(r.remainingBytes)} left in ${store.dir}\n`,
  );
  for (const e of r.kept)
    ctx.stdout.write(
      `Kept ${e.meta.key.slice(0, 12)} (${e.meta.run}): its builder must remove what it holds outside the cache\n`,
    );
  return EXIT.OK;
}
