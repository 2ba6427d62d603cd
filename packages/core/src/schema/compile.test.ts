/**
 * The validator cache across processes, as the CLI uses it: ajv's generated code, then V8's code
 * cache of it, written at the end of a run and taken by the next; bad or foreign data is refused
 * and written again, and the answers stay the same throughout.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const core = fileURLToPath(new URL("../../dist/index.js", import.meta.url));
const cache = mkdtempSync(join(tmpdir(), "kiln-validators-"));
afterAll(() => rmSync(cache, { recursive: true, force: true }));

const script = `import { compileSchema } from ${JSON.stringify(core)};
const v = compileSchema({ type: "object", required: ["a"], properties: { a: { type: "integer", minimum: 2 } } });
process.stdout.write(JSON.stringify([v({ a: 3 }), v({ a: 1 }), v({ a: "x" }), v({})]));`;

function run(): string {
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
    encoding: "utf8",
    env: { ...process.env, KILN_CACHE_DIR: cache, KILN_NO_VALIDATOR_CACHE: "" },
  });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}
const files = (ext: string) => readdirSync(join(cache, "validators")).filter((f) => f.endsWith(ext));

describe("compiled validators on disk", () => {
  it("keep ajv's code, then V8's code cache of it, and give the same answers from each", () => {
    const answers = "[true,false,false,false]";
    expect(run()).toBe(answers); // compiled by ajv; its code saved
    expect(files(".cjs")).toHaveLength(1);
    expect(files(".v8")).toEqual([]);
    expect(run()).toBe(answers); // loaded from the code; V8's cache of it written at exit
    const [v8] = files(".v8");
    expect(v8).toMatch(new RegExp(`\\.${process.version.replace(/\./g, "\\.")}-${process.arch}\\.v8$`));
    const v8File = join(cache, "validators", v8 as string);
    const first = statSync(v8File).mtimeMs;
    expect(run()).toBe(answers); // taken: not written again
    expect(statSync(v8File).mtimeMs).toBe(first);
    writeFileSync(v8File, "not a code cache");
    expect(run()).toBe(answers); // refused by V8, written again
    expect(readFileSync(v8File, "utf8")).not.toBe("not a code cache");
    expect(statSync(v8File).size).toBeGreaterThan(100);
  });
});
