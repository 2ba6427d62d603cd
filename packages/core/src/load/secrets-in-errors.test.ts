// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${{ … }}` in plain strings is what is tested.
/** Load errors never show a secret: not cut short, not quoted, not in a code frame. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { isKilnError, type KilnError } from "../errors.js";
import { formatDiagnostics } from "../report.js";
import { type LoadOptions, loadBuildFile } from "./index.js";

const fixtures = fileURLToPath(new URL("../../test/fixtures/plugins/", import.meta.url));
const scratch = mkdtempSync(join(fixtures, "tmp-secret-errors-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let n = 0;

/** Load `body`; the error as a user sees it (code frames from the file, redacted as the CLI does). */
function shown(body: string, o: Partial<LoadOptions> = {}): { err: KilnError; text: string } {
  const file = join(scratch, `f-${++n}.yaml`);
  writeFileSync(file, body);
  try {
    loadBuildFile({ file, env: {}, ...o });
  } catch (err) {
    if (!isKilnError(err)) throw err;
    // Whatever the printer does on top, plain replacement of each secret is the least it does.
    const plain = (t: string) => err.secrets.reduce((out, sec) => out.split(sec).join("<sensitive>"), t);
    const text = formatDiagnostics(err.diagnostics, { sources: { [file]: body }, redact: plain });
    return { err, text: `${err.message}\n${text}` };
  }
  throw new Error("expected a KilnError");
}

const LONG = "a-very-long-secret-value-0123456789abcdef-XYZ";

describe("secrets in load errors", () => {
  it("redacts a secret before a message cuts it short", () => {
    const { text } = shown(
      `kiln: 1
variables:
  pw: { type: string, sensitive: true }
sources:
  a:
    type: demo
    iso_url: x
    memory: "\${{ var.pw }}"
    vm_name: "\${{ 7 }}"
builds: [{ sources: [a] }]
`,
      { vars: [`pw=${LONG}`] },
    );
    expect(text).toContain("KILN_SCHEMA_TYPE");
    expect(text).not.toContain(LONG.slice(0, 12));
  });

  it("redacts a value computed from a secret, cut or not", () => {
    const { text } = shown(`kiln: 1
variables:
  pw: { type: string, sensitive: true, default: ${JSON.stringify(LONG)} }
sources:
  a:
    type: demo
    iso_url: x
    memory: "\${{ upper(var.pw) }}"
    cpus: "\${{ replace(var.pw, 'a', 'b') }}"
builds: [{ sources: [a] }]
`);
    expect(text).toContain("KILN_SCHEMA_TYPE");
    expect(text).not.toContain(LONG.toUpperCase().slice(0, 12));
    expect(text).not.toContain(LONG.replace(/a/g, "b").slice(0, 12));
  });

  it("redacts a quoted secret (with quotes and backslashes) where a message quotes it", () => {
    const secret = 'pa"ss\\word-1234';
    const { text } = shown(
      `kiln: 1
variables:
  pw: { type: string, sensitive: true }
sources:
  a:
    type: demo
    iso_url: x
    headless: "\${{ var.pw }}"
builds: [{ sources: [a] }]
`,
      { vars: [`pw=${secret}`] },
    );
    expect(text).toContain("KILN_SCHEMA_TYPE");
    expect(text).not.toContain("ss\\\\word");
    expect(text).not.toContain("ss\\word");
  });

  it("never shows a sensitive default in the code frame of a YAML syntax error", () => {
    const { err, text } = shown(`kiln: 1
variables:
  pw:
    type: string
    sensitive: true
    default: 'it''s-hunter2'
  other: [1, 2
`);
    expect(err.code).toBe("KILN_YAML_SYNTAX");
    expect(text).not.toContain("hunter2");
    expect(text).toMatch(/\| \*\*\*/);
  });

  it("masks a flow-style sensitive declaration and a multi-line default next to an error", () => {
    const flow = shown(`kiln: 1
variables:
  pw: { type: string, sensitive: true, default: "s3cr3t-flow" }
  x: { type: nosuch }
`);
    expect(flow.text).toContain("KILN_");
    expect(flow.text).not.toContain("s3cr3t-flow");
    const block = shown(`kiln: 1
variables:
  key:
    sensitive: true
    default: |
      line-one-secret
      line-two-secret
sources: [
`);
    expect(block.text).not.toContain("line-two-secret");
  });

  it("masks a sensitive variable's line in a broken variables file", () => {
    const vf = join(scratch, "vars.yaml");
    writeFileSync(vf, "pw: 'vf-secret-77'\nname: [\n");
    const file = join(scratch, `f-${++n}.yaml`);
    writeFileSync(
      file,
      "kiln: 1\nvariables:\n  pw: { type: string, sensitive: true }\n  name: { type: string }\n",
    );
    try {
      loadBuildFile({ file, env: {}, varFiles: [vf] });
      throw new Error("expected a KilnError");
    } catch (err) {
      if (!isKilnError(err)) throw err;
      const text = formatDiagnostics(err.diagnostics, { sources: { [vf]: "pw: 'vf-secret-77'\nname: [\n" } });
      expect(text).toContain(vf);
      expect(text).not.toContain("vf-secret-77");
    }
  });
});
