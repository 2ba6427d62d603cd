/**
 * bin.js starts the bundled CLI with its compiled code cached (src/start.ts): the cache is
 * written by one run and taken by the next, bad data is refused and replaced, and the command
 * works the same in every case, plugins (ES modules imported by path) included.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { cacheDir as coreCacheDir } from "@kiln/core";
import { afterAll, describe, expect, it } from "vitest";
import { cacheDir } from "./start.js";

const PKG = fileURLToPath(new URL("../", import.meta.url));
const example = fileURLToPath(new URL("../../../examples/appliance.yaml", import.meta.url));
const fixtures = fileURLToPath(new URL("../../core/test/fixtures/plugins/", import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), "kiln-start-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function kiln(args: string[], env: Record<string, string>) {
  const r = spawnSync(process.execPath, [join(PKG, "bin.js"), ...args], {
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1", KILN_DEBUG_COMPILE_CACHE: "1", ...env },
  });
  const outcome = /kiln: compile cache: (\w+)/.exec(r.stderr)?.[1];
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, outcome };
}

const nodeHasCache = typeof (await import("node:module")).default.enableCompileCache === "function";

describe("starting the bundled CLI", () => {
  it("uses the same cache folder as core's validators", () => {
    for (const env of [
      { KILN_CACHE_DIR: "/x/k" },
      { XDG_CACHE_HOME: "/x/xdg" },
      { HOME: "/x/home" },
    ] as NodeJS.ProcessEnv[]) {
      const saved = { ...process.env };
      try {
        delete process.env.KILN_CACHE_DIR;
        delete process.env.XDG_CACHE_HOME;
        Object.assign(process.env, env);
        expect(cacheDir(process.env)).toBe(coreCacheDir());
      } finally {
        process.env = saved;
      }
    }
  });

  it.skipIf(nodeHasCache)(
    "keeps V8's code cache of the bundle: written, taken, refused when bad and written again",
    () => {
      const env = { KILN_CACHE_DIR: join(tmp, "c1") };
      const first = kiln(["validate", example], env);
      expect(first.code, first.stderr).toBe(0);
      expect(first.outcome).toBe("written");
      const dir = join(tmp, "c1", "compile");
      const [file] = readdirSync(dir);
      expect(file).toMatch(/^kiln\.cjs-v\d+\.\d+\.\d+-\w+-\d+-\d+\.v8$/);
      const second = kiln(["validate", example], env);
      expect(second.code).toBe(0);
      expect(second.outcome).toBe("accepted");
      expect(second.stdout).toBe(first.stdout);
      writeFileSync(join(dir, file as string), "garbage");
      const third = kiln(["validate", example], env);
      expect(third.code).toBe(0);
      expect(third.outcome).toBe("rejected");
      expect(kiln(["validate", example], env).outcome).toBe("accepted");
      expect(readdirSync(dir)).toEqual([file]);
    },
  );

  it("imports plugin modules (ES modules, by path) with the cached code too", () => {
    const dir = mkdtempSync(join(fixtures, "tmp-start-"));
    try {
      const f = join(dir, "b.yaml");
      writeFileSync(
        f,
        `kiln: 1\nplugins: { steps: kiln-builder-steps }\nsources:\n  a:\n    type: steps\n    log: ${join(dir, "log.txt")}\nbuilds:\n  - name: img\n    sources: [a]\n`,
      );
      const env = { KILN_CACHE_DIR: join(tmp, "c3") };
      const outcomes: Array<string | undefined> = [];
      for (let i = 0; i < 2; i++) {
        const r = kiln(["build", f], env);
        expect(r.code, r.stdout + r.stderr).toBe(0);
        expect(r.stdout).toContain("img.steps.a: artifact: steps artifact of img.steps.a");
        outcomes.push(r.outcome);
      }
      expect(outcomes).toEqual(nodeHasCache ? ["node", "node"] : ["written", "accepted"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.runIf(nodeHasCache)("uses Node's own compile cache where Node has one", () => {
    const r = kiln(["version"], { KILN_CACHE_DIR: join(tmp, "c2") });
    expect(r.code).toBe(0);
    expect(r.outcome).toBe("node");
    expect(existsSync(join(tmp, "c2", "node-compile-cache"))).toBe(true);
  });

  it("runs without a cache when told to, or when the cache folder cannot be written", () => {
    const off = kiln(["version"], { KILN_NO_COMPILE_CACHE: "1" });
    expect(off.code).toBe(0);
    expect(off.outcome).toBe("off");
    writeFileSync(join(tmp, "a-file"), "");
    const blocked = kiln(["version"], { KILN_CACHE_DIR: join(tmp, "a-file", "below") });
    expect(blocked.code, blocked.stderr).toBe(0);
    expect(blocked.stdout).toMatch(/^kiln \d+\.\d+\.\d+ /);
    expect(blocked.outcome).toBe(nodeHasCache ? "node" : "unavailable");
  });
});
