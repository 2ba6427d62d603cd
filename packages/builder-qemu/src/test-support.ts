/**
 * Helpers for the QEMU end-to-end tests: skip rules, a fresh dist (the engine loads the plugin
 * from its package exports, i.e. dist/), scratch folders inside the workspace, running a build
 * file through @kiln/core, and killing every QEMU a test started.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type BuildResult, EventBus, type KilnEvent, loadBuildFile, runBuild } from "@kiln/core";

export const PKG_DIR = dirname(dirname(fileURLToPath(import.meta.url)));

const TOOLS = ["qemu-system-x86_64", "qemu-img", "xorriso"];

/** Skip when QEMU tools are missing — never under CI=true, where the test must fail instead. */
export function qemuSkip(): { skip: boolean; reason: string } {
  const missing = TOOLS.filter(
    (t) => spawnSync("sh", ["-c", `command -v ${t}`], { stdio: "ignore" }).status !== 0,
  );
  if (missing.length === 0) return { skip: false, reason: "" };
  if (process.env.CI === "true") return { skip: false, reason: "" };
  return {
    skip: true,
    reason: `missing ${missing.join(", ")}: apt-get install qemu-system-x86 qemu-utils xorriso`,
  };
}

function newest(dir: string, filter: (f: string) => boolean): number {
  let t = 0;
  for (const f of readdirSync(dir)) {
    if (!filter(f)) continue;
    t = Math.max(t, statSync(join(dir, f)).mtimeMs);
  }
  return t;
}

/** Rebuild dist/ when a source file is newer (the engine imports the built package). */
export function ensureDist(): void {
  const src = join(PKG_DIR, "src");
  const dist = join(PKG_DIR, "dist");
  const srcTime = newest(src, (f) => f.endsWith(".ts") && !f.endsWith(".test.ts") && !f.startsWith("test-"));
  const stamp = join(dist, ".test-build-stamp");
  const distTime = existsSync(join(dist, "builder.js"))
    ? Math.max(
        newest(dist, (f) => f.endsWith(".js")),
        existsSync(stamp) ? statSync(stamp).mtimeMs : 0,
      )
    : 0;
  if (distTime >= srcTime) return;
  const lock = join(PKG_DIR, ".dist-build-lock");
  for (let i = 0; i < 600; i++) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      spawnSync("sleep", ["0.1"]);
    }
  }
  try {
    const tsc = join(PKG_DIR, "..", "..", "node_modules", ".bin", "tsc");
    execFileSync(
      existsSync(tsc) ? tsc : "npx",
      existsSync(tsc) ? ["-p", "tsconfig.json"] : ["tsc", "-p", "tsconfig.json"],
      {
        cwd: PKG_DIR,
        stdio: "pipe",
      },
    );
    // schema.json (read by the resolver) is generated from the built code.
    const schemaBin = join(PKG_DIR, "node_modules", ".bin", "kiln-plugin-schema");
    if (existsSync(schemaBin)) execFileSync(schemaBin, [], { cwd: PKG_DIR, stdio: "pipe" });
    // tsc does not rewrite unchanged outputs; remember that dist is current now.
    writeFileSync(stamp, `${new Date().toISOString()}\n`);
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** A scratch folder inside the workspace (so the build file resolves the workspace's plugins). */
export function makeScratch(prefix: string): string {
  const root = join(PKG_DIR, "test");
  mkdirSync(root, { recursive: true });
  return mkdtempSync(join(root, `tmp-${prefix}-`));
}

/** PIDs of processes whose command line contains `needle`. */
export function pidsMatching(needle: string): number[] {
  const r = spawnSync("pgrep", ["-f", needle], { encoding: "utf8" });
  return r.stdout
    .split("\n")
    .map((l) => Number(l.trim()))
    .filter((n) => Number.isInteger(n) && n > 0 && n !== process.pid);
}

/** QEMU processes started for `dir` (their command line names files in it). */
export function qemuPids(dir: string): number[] {
  return pidsMatching(dir).filter((pid) => {
    const r = spawnSync("ps", ["-o", "comm=", "-p", String(pid)], { encoding: "utf8" });
    return r.stdout.includes("qemu");
  });
}

export function killQemus(dir: string): number {
  const pids = qemuPids(dir);
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* gone */
    }
  }
  return pids.length;
}

export const RESOLVER = {
  standard: {
    builder: { qemu: "@kiln/builder-qemu" },
    provisioner: { shell: "@kiln/provisioners", file: "@kiln/provisioners" },
    "post-processor": { manifest: "@kiln/post-processors", checksum: "@kiln/post-processors" },
  },
};

export interface BuildRun {
  result: BuildResult;
  events: KilnEvent[];
  /** say/message/error/output lines, for failure messages. */
  log: string;
  ms: number;
}

/** Write `yaml` to `<dir>/<name>` and build it through @kiln/core like `kiln build` does. */
export async function buildFile(
  dir: string,
  name: string,
  yaml: string,
  opts: { signal?: AbortSignal; onEvent?: (e: KilnEvent) => void; force?: boolean } = {},
): Promise<BuildRun> {
  const file = join(dir, name);
  writeFileSync(file, yaml);
  const loaded = loadBuildFile({ file, env: {}, resolver: RESOLVER });
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

/** A line for the test log (timings, keys/s). */
export function note(line: string): void {
  // biome-ignore lint/suspicious/noConsole: test output the suite is asked to print
  console.info(line);
}
