// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${{ … }}` in plain strings is what is tested.
/**
 * Sensitivity propagates through expressions: a value computed from a sensitive variable (or
 * from a local computed from one) is sensitive, is masked by that mark, and is redacted.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { runBuild } from "./engine/build.js";
import { EventBus, type KilnEvent } from "./engine/events.js";
import { SecretRegistry } from "./engine/secrets.js";
import { type LoadOptions, loadBuildFile } from "./load/index.js";

const fixtures = fileURLToPath(new URL("../test/fixtures/plugins/", import.meta.url));
const scratch = mkdtempSync(join(fixtures, "tmp-sensitive-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let n = 0;

function load(body: string, o: Partial<LoadOptions> = {}) {
  const file = join(scratch, `f-${++n}.yaml`);
  writeFileSync(file, body);
  return loadBuildFile({ file, env: {}, ...o });
}

const KEY = "-----BEGIN KEY-----\nAAAAsecretline1\nBBBBsecretline2\n-----END KEY-----\n";
const HEAD = `kiln: 1
variables:
  pw: { type: string, sensitive: true, default: "hunter2-secret" }
  key: { type: string, sensitive: true, default: ${JSON.stringify(KEY)} }
  db: { type: string, sensitive: true, env: DB_PASSWORD }
  name: { type: string, default: "web" }
`;

describe("sensitivity through expressions", () => {
  const loaded = load(
    `${HEAD}locals:
  up: "\${{ upper(var.pw) }}"
  b64: "\${{ base64encode(var.pw) }}"
  quoted: "\\"\${{ var.pw }}\\\\"
  pem: "\${{ var.key }}"
  chain: "x-\${{ local.up }}"
  length: "\${{ length(var.pw) }}"
  picked: "\${{ var.name == 'web' ? var.pw : 'none' }}"
  whole: "\${{ jsonencode(var) }}"
  computed: "\${{ var[join('', ['p', 'w'])] }}"
  via_env: "\${{ env.DB_PASSWORD }}"
  conf: { user: "\${{ var.name }}", pass: "\${{ var.pw }}" }
  plain: "\${{ upper(var.name) }}"
  later: "\${{ var.pw }}-\${{ build.ID }}"
`,
    { env: { DB_PASSWORD: "db-pass-999" } },
  );

  it("marks every local computed from a sensitive value, and only those", () => {
    expect([...loaded.sensitiveLocals].sort()).toEqual(
      [
        "b64",
        "chain",
        "computed",
        "conf",
        "length",
        "later",
        "pem",
        "picked",
        "quoted",
        "up",
        "via_env",
        "whole",
      ].sort(),
    );
  });

  it("registers the derived values (not short ones) as secrets: each is redacted", () => {
    const registry = new SecretRegistry();
    for (const s of loaded.secrets) registry.add(s);
    for (const s of [
      "HUNTER2-SECRET",
      Buffer.from("hunter2-secret").toString("base64"),
      '"hunter2-secret\\',
      "x-HUNTER2-SECRET",
    ]) {
      expect(registry.redact(s)).not.toContain(s);
      expect(registry.redact(s)).not.toMatch(/hunter2|HUNTER2/);
    }
    // upper() is not a form the registry derives by itself: it was registered as a value.
    expect(loaded.secrets).toContain("HUNTER2-SECRET");
    expect(loaded.secrets).not.toContain("14"); // length(var.pw): masked in inspect, too short to redact
    expect(loaded.secrets).not.toContain("WEB");
  });

  it("redacts a derived value rendered at build time", async () => {
    const log = join(scratch, "log.txt");
    writeFileSync(log, "");
    const l = load(`kiln: 1
plugins: { steps: kiln-builder-steps }
variables:
  pw: { type: string, sensitive: true, default: "hunter2-secret" }
sources:
  a:
    type: steps
    log: ${JSON.stringify(log)}
    steps: [create]
    say: "token \${{ base64encode(upper(var.pw)) }} for \${{ build.BuildName }}"
builds:
  - name: img
    sources: [a]
`);
    const bus = new EventBus();
    const events: KilnEvent[] = [];
    bus.subscribe((e) => events.push(e));
    await runBuild({ loaded: l, bus, signal: new AbortController().signal, env: {} });
    const text = JSON.stringify(events);
    // The whole string is computed from the secret, so all of it is one (conservative, as Terraform).
    expect(events.some((e) => e.type === "say" && e.text === "<sensitive>")).toBe(true);
    expect(text).not.toContain("for img");
    expect(text).not.toContain(Buffer.from("HUNTER2-SECRET").toString("base64"));
  });

  it("property: any expression mixing a sensitive var with functions is masked and redacted", () => {
    const wrap = fc.constantFrom(
      (e: string) => `upper(${e})`,
      (e: string) => `lower(${e})`,
      (e: string) => `base64encode(${e})`,
      (e: string) => `sha256(${e})`,
      (e: string) => `format('<%s>', ${e})`,
      (e: string) => `replace(${e}, 'e', 'E')`,
      (e: string) => `trimspace(${e})`,
      (e: string) => `jsonencode([${e}])`,
      (e: string) => `join('-', [${e}, var.name])`,
      (e: string) => `(${e} + '!')`,
      (e: string) => `tostring(${e})`,
      (e: string) => `lookup({ k = ${e} }, 'k', '')`,
      (e: string) => `(var.name != '' ? ${e} : 'x')`,
    );
    const secret = fc.stringMatching(/^[A-Za-z0-9+/=_."\\ -]{6,24}$/);
    fc.assert(
      fc.property(secret, fc.array(wrap, { minLength: 1, maxLength: 4 }), (pw, fns) => {
        const expr = fns.reduce((e, f) => f(e), "var.pw");
        const l = load(
          `kiln: 1\nvariables:\n  pw: { type: string, sensitive: true }\n  name: { type: string, default: web }\nlocals:\n  out: ${JSON.stringify(`\${{ ${expr} }}`)}\n`,
          { vars: [`pw=${pw}`] },
        );
        expect(l.sensitiveLocals).toEqual(["out"]);
        const value = String(l.locals.out);
        const reg = new SecretRegistry();
        for (const s of l.secrets) reg.add(s);
        expect(reg.redact(`value: ${value}`)).not.toContain(value);
      }),
      { numRuns: process.env.CI ? 150 : 80, seed: 1102 },
    );
  });
});
