// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${{ … }}` in plain strings is what is tested.
/**
 * Values are data: a build file's expressions are evaluated once (at load, or at build time for
 * the strings that need build values), and no value is ever parsed as an expression again.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { runBuild } from "./engine/build.js";
import { EventBus, type KilnEvent } from "./engine/events.js";
import { type LoadOptions, loadBuildFile } from "./load/index.js";

const fixtures = fileURLToPath(new URL("../test/fixtures/plugins/", import.meta.url));
const scratch = mkdtempSync(join(fixtures, "tmp-once-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let n = 0;

/** A build whose one step says `say` (rendered at build time) and whose provisioner records `text`. */
function file(say: string, text: string, head = ""): { file: string; log: string } {
  const log = join(scratch, `log-${++n}.txt`);
  writeFileSync(log, "");
  const f = join(scratch, `build-${n}.yaml`);
  writeFileSync(
    f,
    `kiln: 1
plugins: { steps: kiln-builder-steps }
${head}
sources:
  a:
    type: steps
    log: ${JSON.stringify(log)}
    steps: [create]
    say: ${JSON.stringify(say)}
builds:
  - name: img
    sources: [a]
    provisioners:
      - type: record
        log: ${JSON.stringify(log)}
        text: ${JSON.stringify(text)}
`,
  );
  return { file: f, log };
}

async function build(f: { file: string; log: string }, o: Partial<LoadOptions> = {}) {
  const env = o.env ?? {};
  const loaded = loadBuildFile({ file: f.file, env, ...o });
  const bus = new EventBus();
  const events: KilnEvent[] = [];
  bus.subscribe((e) => events.push(e));
  const r = await runBuild({ loaded, bus, signal: new AbortController().signal, env });
  const says = events.flatMap((e) => (e.type === "say" ? [e.text] : []));
  // The recorder logs `provision <text> <run> attempt <n>` (text may span lines).
  const recorded = [
    ...readFileSync(f.log, "utf8").matchAll(/^provision ([\s\S]*?) img\.steps\.a attempt \d+$/gm),
  ].map((m) => m[1]);
  return { ok: r.ok, says, recorded, events, loaded };
}

const VARS = "variables:\n  x: { type: string, default: plain }\n";

describe("evaluation once", () => {
  it("keeps an escaped $${{ as a literal ${{ through the build", async () => {
    const r = await build(file("$${{ 1 + 1 }} in ${{ build.BuildName }}", "$${{ 1 + 1 }}"));
    expect(r.ok).toBe(true);
    expect(r.says).toContain("${{ 1 + 1 }} in img");
    expect(r.recorded).toEqual(["${{ 1 + 1 }}"]);
  });

  it("never executes a --var value, at load or at build time", async () => {
    const evil = "${{ sha256(env.HOME) }}";
    const r = await build(file("${{ var.x }} / ${{ build.BuildName }}", "${{ var.x }}", VARS), {
      vars: [`x=${evil}`],
      env: { HOME: "/root" },
    });
    expect(r.says).toContain(`${evil} / img`);
    expect(r.recorded).toEqual([evil]);
  });

  it("never executes an environment value or file() content", async () => {
    const content = join(scratch, "content.txt");
    writeFileSync(content, "${{ upper('x') }} $${{ y }}");
    const r = await build(
      file(
        `\${{ env.EVIL }}|\${{ file(${JSON.stringify(content).replace(/"/g, "'")}) }}|\${{ source.name }}`,
        "${{ env.EVIL }}",
      ),
      { env: { EVIL: "${{ 6 * 7 }}" } },
    );
    expect(r.says).toContain("${{ 6 * 7 }}|${{ upper('x') }} $${{ y }}|a");
    expect(r.recorded).toEqual(["${{ 6 * 7 }}"]);
  });

  it("property: any string holding ${{ … }} given as a --var, env value or file comes out byte-identical", async () => {
    const piece = fc.constantFrom(
      "${{",
      "}}",
      "$${{",
      "$",
      "{",
      "}",
      " ",
      "1 + 1",
      "var.x",
      "env.HOME",
      "'",
      '"',
      "\\",
      "\n",
      "build.ID",
      "sha256(",
      ")",
    );
    const value = fc
      .array(fc.oneof(piece, fc.string({ maxLength: 4 })), { minLength: 1, maxLength: 12 })
      .map((a) => `\${{ ${a.join("")}`);
    const payload = join(scratch, "payload.txt");
    await fc.assert(
      fc.asyncProperty(value, fc.constantFrom("var", "env", "file"), async (v, via) => {
        writeFileSync(payload, v);
        const ref =
          via === "var"
            ? "var.x"
            : via === "env"
              ? "env.PAYLOAD"
              : `file(${JSON.stringify(payload).replace(/"/g, "'")})`;
        const r = await build(file(`\${{ ${ref} }}\${{ build.ID }}`, `\${{ ${ref} }}`, VARS), {
          vars: [`x=${v}`],
          env: { PAYLOAD: v },
        });
        expect(r.ok).toBe(true);
        expect(r.says).toContain(v);
        expect(r.recorded).toEqual([v]);
      }),
      { numRuns: process.env.CI ? 40 : 25, seed: 1101 },
    );
  });
});
