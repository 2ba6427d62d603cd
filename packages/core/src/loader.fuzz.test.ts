/**
 * Property tests for the loader: whatever text, values or bytes a build file holds, loading it
 * either succeeds or throws a KilnError carrying positioned diagnostics, and never hangs.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { isKilnError } from "./errors.js";
import { loadBuildFile } from "./load/index.js";
import { parseYaml } from "./load/parse.js";

const plugins = fileURLToPath(new URL("../test/fixtures/plugins/", import.meta.url));
const standard = { provisioner: { shell: "@kiln/provisioners", file: "@kiln/provisioners" } };
const dir = mkdtempSync(join(tmpdir(), "kiln-fuzz-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CASE_LIMIT_MS = 2000;
let n = 0;

/** Run `fn`; it must return or throw a KilnError, within the time bound. */
function mustBeKilnErrorOrNothing(fn: () => unknown, file?: string): void {
  const start = performance.now();
  try {
    fn();
  } catch (err) {
    if (!isKilnError(err)) throw err;
    for (const d of err.diagnostics) {
      expect(typeof d.code).toBe("string");
      expect(d.code).toMatch(/^KILN_/);
      expect(d.message.length).toBeGreaterThan(0);
      if (file !== undefined && d.pos) {
        expect(d.pos.file).toBe(file);
        expect(d.pos.line).toBeGreaterThanOrEqual(1);
        expect(d.pos.column).toBeGreaterThanOrEqual(1);
      }
    }
  } finally {
    expect(performance.now() - start).toBeLessThan(CASE_LIMIT_MS);
  }
}

function loadText(data: string | Uint8Array): void {
  const file = join(dir, `case-${n++}.yaml`);
  writeFileSync(file, data);
  try {
    mustBeKilnErrorOrNothing(
      () => loadBuildFile({ file, env: {}, resolver: { searchDirs: [plugins], standard } }),
      file,
    );
    mustBeKilnErrorOrNothing(() => parseYaml(data, file), file);
  } finally {
    rmSync(file, { force: true });
  }
}

const FRAGMENTS = [
  "kiln: 1\n",
  "kiln",
  "sources",
  "builds",
  "variables",
  "locals",
  "plugins",
  "data",
  "type",
  "demo",
  "shell",
  "file",
  "acme-run",
  "acme-upload",
  "old",
  "future",
  "notaplugin",
  "iso_url",
  "memory",
  "boot_wait",
  "name",
  "provisioners",
  "post-processors",
  "only",
  "except",
  "override",
  "validation",
  "condition",
  "error_message",
  "default",
  "inline",
  "destination",
  "a",
  "b",
  "9bad",
  ":",
  ": ",
  "-",
  "- ",
  "[",
  "]",
  "{",
  "}",
  ",",
  "&a ",
  "*a",
  "&b ",
  "*b",
  "!",
  "!!str ",
  "!!python/object ",
  "!foo ",
  "|",
  "|-",
  ">",
  '"',
  "'",
  "\\",
  "#",
  " # c",
  "---\n",
  "...\n",
  "%YAML 1.2\n",
  "? ",
  "\n",
  "\n",
  "\n",
  " ",
  "  ",
  "    ",
  "\t",
  "\r\n",
  "${{",
  "}}",
  "${{ var.x }}",
  "${{ local.a }}",
  "${{ vars.x }}",
  "${{ lowr(1) }}",
  "${{ 1 +* 2 }}",
  "${{ env.HOME }}",
  "${{ local.b }}",
  "$${{",
  "5s",
  "10x",
  "1024",
  '"1024"',
  "true",
  "yes",
  "null",
  "~",
  "1e999",
  "0x1F",
  "é",
  "\u0000",
  "\ufeff",
  "💥",
];

const yamlish = fc
  .array(fc.oneof(fc.constantFrom(...FRAGMENTS), fc.string({ maxLength: 6 })), { maxLength: 80 })
  .map((parts) => parts.join(""));

const KEY_PATHS: Array<Array<string | number>> = [
  ["kiln"],
  ["plugins"],
  ["plugins", "acme"],
  ["variables"],
  ["variables", "x"],
  ["variables", "x", "type"],
  ["variables", "x", "default"],
  ["variables", "x", "validation"],
  ["variables", "x", "validation", "condition"],
  ["locals"],
  ["locals", "a"],
  ["sources"],
  ["sources", "a"],
  ["sources", "a", "type"],
  ["sources", "a", "iso_url"],
  ["sources", "a", "memory"],
  ["sources", "a", "boot_command"],
  ["data"],
  ["data", "d"],
  ["builds"],
  ["builds", 0],
  ["builds", 0, "name"],
  ["builds", 0, "sources"],
  ["builds", 0, "provisioners"],
  ["builds", 0, "provisioners", 0],
  ["builds", 0, "provisioners", 0, "only"],
  ["builds", 0, "provisioners", 0, "override"],
  ["builds", 0, "post-processors"],
  ["builds", 0, "post-processors", 0],
  ["builds", 0, "error-cleanup-provisioner"],
];

function base(): Record<string, unknown> {
  return {
    kiln: 1,
    plugins: { acme: "@acme/kiln-tools@^2" },
    variables: { x: { type: "string", default: "y" } },
    locals: { a: "${{ var.x }}" },
    sources: { a: { type: "demo", iso_url: "https://example.invalid/${{ local.a }}.iso" } },
    builds: [
      {
        name: "b",
        sources: ["a"],
        provisioners: [{ type: "shell", inline: ["ls"] }],
        "post-processors": [{ type: "acme-upload" }],
      },
    ],
  };
}

function setAt(root: Record<string, unknown>, path: Array<string | number>, value: unknown): void {
  let cur: unknown = root;
  for (let i = 0; i < path.length - 1; i++) {
    const seg = path[i] as string | number;
    const next = path[i + 1] as string | number;
    const obj = cur as Record<string | number, unknown>;
    if (obj[seg] === null || typeof obj[seg] !== "object") obj[seg] = typeof next === "number" ? [] : {};
    cur = obj[seg];
  }
  (cur as Record<string | number, unknown>)[path[path.length - 1] as string | number] = value;
}

const jsonish = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }),
  fc.constantFrom(
    "${{",
    "${{ var.nope }}",
    "${{ local.a }}",
    "demo",
    "shell",
    "old",
    "5s",
    "10x",
    "@acme/kiln-tools@x y",
    [],
    {},
    null,
  ),
);
const valuesUnderKeys = fc
  .array(fc.tuple(fc.constantFrom(...KEY_PATHS), jsonish), { minLength: 1, maxLength: 4 })
  .map((edits) => {
    const doc = base();
    for (const [path, value] of edits) setAt(doc, path, value);
    return stringify(doc);
  });

describe("the loader on arbitrary input", () => {
  it("YAML-ish text never throws anything but a KilnError", () => {
    fc.assert(
      fc.property(yamlish, (text) => loadText(text)),
      { numRuns: 400 },
    );
  });

  it("YAML-ish text after a valid header never throws anything but a KilnError", () => {
    fc.assert(
      fc.property(yamlish, (text) => loadText(`kiln: 1\n${text}`)),
      { numRuns: 300 },
    );
  });

  it("arbitrary values under build-file keys never throw anything but a KilnError", () => {
    fc.assert(
      fc.property(valuesUnderKeys, (text) => loadText(text)),
      { numRuns: 300 },
    );
  });

  it("arbitrary bytes never throw anything but a KilnError", () => {
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc
        .tuple(yamlish, fc.uint8Array({ maxLength: 8 }))
        .map(([t, b]) => Buffer.concat([Buffer.from(`kiln: 1\n${t}`), b])),
    );
    fc.assert(
      fc.property(bytes, (b) => loadText(b)),
      { numRuns: 300 },
    );
  });

  it("deep nesting and long lines stay bounded", () => {
    loadText(`kiln: 1\nlocals:\n  a: ${"[".repeat(5000)}${"]".repeat(5000)}\n`);
    loadText(`kiln: 1\nlocals:\n  a: ${"[".repeat(5000)}\n`);
    loadText(`kiln: 1\nlocals:\n  a: ${"{a: ".repeat(3000)}1${"}".repeat(3000)}\n`);
    loadText(`kiln: 1\nlocals:\n  a: "${"${{ ".repeat(2000)}"\n`);
    loadText(
      `kiln: 1\nlocals:\n${Array.from({ length: 2000 }, (_, i) => `  l${i}: \${{ local.l${(i + 1) % 2000} }}`).join("\n")}\n`,
    );
  });
});
