/**
 * Checkpoints through the `kiln` command, with core's VM-less test builder (kiln-builder-ckpt):
 * the terminal lines for saved, restored and up to date, --no-cache, --cache-dir, and
 * `kiln cache list | prune [--keep-size]`.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { parseByteSize } from "./commands/cache.js";

const bin = fileURLToPath(new URL("../bin.js", import.meta.url));
const repo = fileURLToPath(new URL("../../../", import.meta.url));
const fixtures = join(repo, "packages/core/test/fixtures/plugins");
const scratch = mkdtempSync(join(fixtures, "tmp-cli-cache-"));
const cache = join(scratch, "cache");
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function kiln(args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], {
    encoding: "utf8",
    cwd: scratch,
    env: { ...process.env, NO_COLOR: "1", KILN_CACHE_DIR: join(scratch, "not-this-one") },
    timeout: 20_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const file = (text: string) => {
  const f = join(scratch, "b.yaml");
  writeFileSync(
    f,
    `kiln: 1
plugins: { ckpt: kiln-builder-ckpt, append: kiln-builder-ckpt }
sources:
  m: { type: ckpt, output: out.txt }
builds:
  - name: b
    sources: [m]
    provisioners:
      - { type: append, text: one }
      - { type: append, text: ${text} }
`,
  );
  return f;
};

describe("kiln build with checkpoints", () => {
  it("says what it saved, restored, and when a build is up to date", () => {
    const f = file("two");
    const full = kiln(["build", "--no-install", "--cache-dir", cache, f]);
    expect(full.code, full.stderr + full.stdout).toBe(0);
    expect(full.stdout).toMatch(/Saved checkpoint 0 \(after connect, [0-9a-f]{12}\)/);
    expect(full.stdout).toMatch(/Saved checkpoint 2 \(after append, [0-9a-f]{12}\)/);
    expect(statSync(join(cache, "checkpoints")).mode & 0o777).toBe(0o700);
    expect(existsSync(join(scratch, "not-this-one", "checkpoints"))).toBe(false);

    const same = kiln(["build", "--no-install", "--cache-dir", cache, f]);
    expect(same.code).toBe(0);
    expect(same.stdout).toContain("==> Up to date:");

    const changed = kiln(["build", "--no-install", "--force", "--cache-dir", cache, file("TWO")]);
    expect(changed.code, changed.stderr).toBe(0);
    expect(changed.stdout).toContain("==> Not up to date: append: its options changed");
    expect(changed.stdout).toMatch(
      /==> Restored checkpoint 1 \(after append, [0-9a-f]{12}\) from .*: not running connect, append again/,
    );

    const none = kiln(["build", "--no-install", "--force", "--no-cache", "--cache-dir", cache, f]);
    expect(none.code).toBe(0);
    expect(none.stdout).toContain("No checkpoints: --no-cache");
    expect(none.stdout).not.toContain("Restored");
  });

  it("kiln cache list shows the checkpoints; prune --keep-size and prune remove them", () => {
    const list = kiln(["cache", "list", "--cache-dir", cache]);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^KEY +RUN +CHECKPOINT +SIZE +USED$/m);
    expect(list.stdout).toMatch(/b\.ckpt\.m +2:append/);
    expect(list.stdout, list.stdout).toMatch(/4 checkpoints, .* in /);
    const json = JSON.parse(kiln(["cache", "list", "--json", "--cache-dir", cache]).stdout);
    expect(json).toHaveLength(4);
    expect(json[0]).toMatchObject({ run: "b.ckpt.m", buildFile: join(scratch, "b.yaml") });

    const bad = kiln(["cache", "prune", "--keep-size", "lots", "--cache-dir", cache]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--keep-size takes a size such as 20GiB, 500M or 1073741824, not "lots"');
    const kept = kiln(["cache", "prune", "--keep-size", "1GiB", "--cache-dir", cache]);
    expect(kept.stdout).toMatch(/^Removed 0 checkpoints/);
    const all = kiln(["cache", "prune", "--cache-dir", cache]);
    expect(all.stdout).toMatch(/^Removed 4 checkpoints .*; 0 B left/);
    expect(kiln(["cache", "list", "--cache-dir", cache]).stdout).toMatch(/^No checkpoints in /);
    expect(kiln(["cache", "clean"]).code).toBe(2);
  });

  it("reads sizes as people write them", () => {
    expect(parseByteSize("20GiB")).toBe(20 * 1024 ** 3);
    expect(parseByteSize("500M")).toBe(500 * 1024 ** 2);
    expect(parseByteSize("1.5 TB")).toBe(1.5 * 1024 ** 4);
    expect(parseByteSize("1048576")).toBe(1048576);
    expect(parseByteSize("-1G")).toBeUndefined();
    expect(parseByteSize("10 parsecs")).toBeUndefined();
  });
});
