/**
 * Helpers for the QEMU end-to-end tests: skip rules, the scaffolding of an e2e test file (a fresh
 * dist/ — the engine loads the plugin from its package exports —, the test appliance, a scratch
 * folder inside the workspace, killing every QEMU a test started), and running a build file
 * through @kiln/core with the workspace's plugins (@kiln/sdk/testing does the work).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, rmdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { KilnError } from "@kiln/core";
import {
  type BuildFileOptions,
  type BuildRun,
  ensureDist,
  makeScratch,
  buildFile as sdkBuildFile,
} from "@kiln/sdk/testing";
import { afterAll, beforeAll, expect } from "vitest";
import { type Appliance, ensureAppliance } from "../../../testbed/appliance/src/appliance.js";

export type { BuildRun };

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

/** Write `yaml` to `<dir>/<name>` and build it through @kiln/core like `kiln build` does. */
export function buildFile(
  dir: string,
  name: string,
  yaml: string,
  opts: Omit<BuildFileOptions, "resolver"> = {},
): Promise<BuildRun> {
  return sdkBuildFile(dir, name, yaml, { ...opts, resolver: RESOLVER });
}

/** A failed run's error, for failure messages: `CODE: message`, then the hint. */
export function errorText(run: BuildRun): string {
  const e = run.result.runs[0]?.error as KilnError | undefined;
  return e ? `${e.code}: ${e.message}\n${e.hint ?? ""}` : "";
}

export interface QemuScratch {
  /** The test appliance (testbed/appliance), once beforeAll has run. */
  readonly appliance: Appliance;
  /** This file's scratch folder under test/, once beforeAll has run. */
  readonly root: string;
  /** Create the sub-folder `name` of the scratch folder; its path. */
  dir(name: string): string;
}

/**
 * The scaffolding of a QEMU end-to-end test file; call it in its describe(). beforeAll: a
 * current dist/, the test appliance and a scratch folder `test/tmp-<prefix>-…`. afterAll: kill
 * the QEMUs still running for that folder (failing the file if there were any), remove it, and
 * remove test/ when no other file uses it.
 */
export function useQemuScratch(prefix: string): QemuScratch {
  let appliance: Appliance | undefined;
  let root: string | undefined;

  beforeAll(async () => {
    ensureDist(PKG_DIR);
    appliance = await ensureAppliance();
    root = makeScratch(PKG_DIR, prefix);
  }, 300_000);

  afterAll(() => {
    if (!root) return;
    const killed = killQemus(root);
    rmSync(root, { recursive: true, force: true });
    try {
      rmdirSync(join(PKG_DIR, "test"));
    } catch {
      /* not empty: other test files use it too */
    }
    expect(killed, "QEMU processes were still running after the tests").toBe(0);
  });

  return {
    get appliance() {
      if (!appliance) throw new Error("useQemuScratch: the appliance is there once beforeAll has run");
      return appliance;
    },
    get root() {
      if (!root) throw new Error("useQemuScratch: the scratch folder is there once beforeAll has run");
      return root;
    },
    dir(name) {
      const dir = join(this.root, name);
      mkdirSync(dir);
      return dir;
    },
  };
}

/** A line for the test log (timings, keys/s). */
export function note(line: string): void {
  // biome-ignore lint/suspicious/noConsole: test output the suite is asked to print
  console.info(line);
}
