/**
 * Helpers for a plugin's end-to-end tests: keep its dist/ current (the engine loads a plugin
 * through its package exports), scratch folders inside the package (so build files resolve the
 * workspace's plugins), and running a build file through @kiln/core exactly as `kiln build` does.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  type BuildResult,
  type CheckpointSettings,
  EventBus,
  formatDiagnostics,
  isKilnError,
  type KilnEvent,
  loadBuildFile,
  type ResolverOptions,
  runBuild,
} from "@kiln/core";

/** The newest mtime of the files under `dir` (sub-folders too: a builder's src/steps/) that pass `filter`. */
function newest(dir: string, filter: (f: string) => boolean): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newest(p, filter));
    else if (filter(e.name)) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

/** Rebuild `<pkgDir>/dist` (and schema.json) when a source file is newer than it. */
export function ensureDist(pkgDir: string): void {
  const src = join(pkgDir, "src");
  const dist = join(pkgDir, "dist");
  const srcTime = newest(src, (f) => f.endsWith(".ts") && !f.endsWith(".test.ts") && !f.startsWith("test-"));
  const stamp = join(dist, ".test-build-stamp");
  const distTime = existsSync(join(dist, "index.js"))
    ? Math.max(
        newest(dist, (f) => f.endsWith(".js")),
        existsSync(stamp) ? statSync(stamp).mtimeMs : 0,
      )
    : 0;
  if (distTime >= srcTime) return;
  const lock = join(pkgDir, ".dist-build-lock");
  for (let i = 0; i < 600; i++) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      spawnSync("sleep", ["0.1"]);
    }
  }
  try {
    const tsc = join(pkgDir, "..", "..", "node_modules", ".bin", "tsc");
    execFileSync(
      existsSync(tsc) ? tsc : "npx",
      existsSync(tsc) ? ["-p", "tsconfig.json"] : ["tsc", "-p", "tsconfig.json"],
      { cwd: pkgDir, stdio: "pipe" },
    );
    const schemaBin = join(pkgDir, "node_modules", ".bin", "kiln-plugin-schema");
    if (existsSync(schemaBin)) execFileSync(schemaBin, [], { cwd: pkgDir, stdio: "pipe" });
    writeFileSync(stamp, `${new Date().toISOString()}\n`); // tsc leaves unchanged outputs alone
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** A scratch folder under `<pkgDir>/test/`. */
export function makeScratch(pkgDir: string, prefix: string): string {
  const root = join(pkgDir, "test");
  mkdirSync(root, { recursive: true });
  return mkdtempSync(join(root, `tmp-${prefix}-`));
}

export interface BuildRun {
  result: BuildResult;
  events: KilnEvent[];
  /** say/message/error/output lines, for failure messages. */
  log: string;
  ms: number;
}

export interface BuildFileOptions {
  resolver?: Omit<ResolverOptions, "fromDir" | "plugins">;
  signal?: AbortSignal;
  onEvent?: (e: KilnEvent) => void;
  force?: boolean;
  env?: Record<string, string>;
  /**
   * Checkpoints (docs/checkpoints.md). Default: off (`noCache`), so tests never fill the
   * user's cache; a test of checkpoints gives its own `cacheDir`.
   */
  cache?: CheckpointSettings;
}

/** Write `yaml` to `<dir>/<name>` and build it through @kiln/core like `kiln build` does. */
export async function buildFile(
  dir: string,
  name: string,
  yaml: string,
  opts: BuildFileOptions = {},
): Promise<BuildRun> {
  const file = join(dir, name);
  writeFileSync(file, yaml);
  let loaded: ReturnType<typeof loadBuildFile>;
  try {
    loaded = loadBuildFile({
      file,
      env: opts.env ?? {},
      ...(opts.resolver ? { resolver: opts.resolver } : {}),
    });
  } catch (e) {
    // Show what the loader found, not just "1 problem".
    if (isKilnError(e) && e.diagnostics?.length) e.message += `\n${formatDiagnostics(e.diagnostics)}`;
    throw e;
  }
  const bus = new EventBus();
  const events: KilnEvent[] = [];
  bus.subscribe((e) => {
    events.push(e);
    opts.onEvent?.(e);
  });
  const t0 = Date.now();
  const result = await runBuild({
    loaded,
    bus,
    signal: opts.signal ?? new AbortController().signal,
    ...(opts.force ? { force: true } : {}),
    cache: opts.cache ?? { noCache: true },
  });
  const log = events
    .map((e) => {
      if (e.type === "say" || e.type === "message" || e.type === "error-line") return `${e.type}: ${e.text}`;
      if (e.type === "output") return `out: ${e.line}`;
      if (e.type === "step-start") return `step ${e.step}`;
      if (e.type === "run-end") return `run-end ok=${e.ok} ${e.error ?? ""}`;
      return undefined;
    })
    .filter(Boolean)
    .join("\n");
  return { result, events, log, ms: Date.now() - t0 };
}
