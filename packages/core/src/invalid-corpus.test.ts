/**
 * The malformed-input corpus: every file under test/fixtures/plugins/invalid/ declares the
 * diagnostics it must produce in leading `# expect: CODE line:column` comment lines (all of them,
 * in order) and optionally `# hint: text` lines that some diagnostic's hint must contain. The
 * corpus sits beside the fixture plugins so that plugin resolution finds them from the file's folder.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { isKilnError, type KilnError } from "./errors.js";
import { loadBuildFile } from "./load/index.js";
import { MAX_FILE_BYTES } from "./load/parse.js";

const dir = fileURLToPath(new URL("../test/fixtures/plugins/invalid/", import.meta.url));
const standard = { provisioner: { shell: "@kiln/provisioners", file: "@kiln/provisioners" } };
const files = readdirSync(dir)
  .filter((f) => f.endsWith(".yaml"))
  .sort();

interface Expectation {
  diags: string[];
  hints: string[];
}

function expectations(file: string): Expectation {
  // latin1 so that a file with bytes that are not UTF-8 still yields its header.
  const lines = readFileSync(file).toString("latin1").split("\n");
  const out: Expectation = { diags: [], hints: [] };
  for (const line of lines) {
    if (!line.startsWith("#")) break;
    const e = /^# expect: (KILN_[A-Z_]+) (\d+):(\d+)\s*$/.exec(line);
    if (e) out.diags.push(`${e[1]} ${e[2]}:${e[3]}`);
    const h = /^# hint: (.+)$/.exec(line);
    if (h?.[1]) out.hints.push(h[1].trim());
  }
  return out;
}

function failureOf(file: string): KilnError {
  let thrown: unknown;
  try {
    loadBuildFile({ file, env: {}, resolver: { standard } });
  } catch (err) {
    thrown = err;
  }
  if (thrown === undefined) throw new Error(`${file}: loaded without an error`);
  if (!isKilnError(thrown)) throw thrown;
  return thrown;
}

describe("invalid build file corpus", () => {
  it("holds at least 40 files", () => {
    expect(files.length).toBeGreaterThanOrEqual(40);
  });

  it.each(files)("%s", (name) => {
    const file = join(dir, name);
    const want = expectations(file);
    expect(want.diags.length, "the file declares its expected diagnostics").toBeGreaterThan(0);
    const err = failureOf(file);
    const got = err.diagnostics.map((d) => `${d.code} ${d.pos?.line}:${d.pos?.column}`);
    expect(got).toEqual(want.diags);
    for (const d of err.diagnostics) {
      expect(d.pos?.file).toBe(file);
      expect(d.message.length).toBeGreaterThan(0);
      expect(d.message).not.toMatch(/undefined|\[object Object\]|expected ,|must match a schema/);
      // A hint, or a message that says enough by itself.
      expect(Boolean(d.hint) || d.message.length >= 20, `${d.code}: ${d.message}`).toBe(true);
    }
    for (const h of want.hints) {
      expect(
        err.diagnostics.some((d) => d.hint?.includes(h)),
        `a hint contains ${JSON.stringify(h)}`,
      ).toBe(true);
    }
  });
});

describe("files made at run time", () => {
  const tmp = mkdtempSync(join(tmpdir(), "kiln-invalid-"));
  const write = (name: string, data: string | Uint8Array) => {
    const f = join(tmp, name);
    writeFileSync(f, data);
    return f;
  };
  const fail = (file: string) => {
    try {
      loadBuildFile({ file, env: {}, resolver: { standard } });
    } catch (err) {
      if (isKilnError(err)) return err;
      throw err;
    }
    throw new Error("expected a KilnError");
  };

  it("rejects a file over the size bound without parsing it", () => {
    const f = write("big.yaml", `kiln: 1\nlocals:\n  a: "${"x".repeat(MAX_FILE_BYTES)}"\n`);
    const start = Date.now();
    const err = fail(f);
    expect(Date.now() - start).toBeLessThan(2000);
    expect(err.diagnostics.map((d) => `${d.code} ${d.pos?.line}:${d.pos?.column}`)).toEqual([
      "KILN_FILE_TOO_LARGE 1:1",
    ]);
    expect(err.diagnostics[0]?.pos?.file).toBe(f);
    expect(err.diagnostics[0]?.hint).toBeTruthy();
  });

  it("rejects a file of zero bytes", () => {
    const f = write("zero.yaml", "");
    const err = fail(f);
    expect(err.diagnostics.map((d) => `${d.code} ${d.pos?.line}:${d.pos?.column}`)).toEqual([
      "KILN_HEADER 1:1",
    ]);
    expect(err.diagnostics[0]?.pos?.file).toBe(f);
  });

  it("reports a missing file as a KilnError", () => {
    const err = fail(join(tmp, "nope.yaml"));
    expect(err.code).toBe("KILN_FILE_NOT_FOUND");
  });

  it("cleans up", () => {
    rmSync(tmp, { recursive: true, force: true });
  });
});
