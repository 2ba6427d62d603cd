// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${{ … }}` in plain strings is what is tested.
/** Bad input that used to crash kiln (exit 70) or hang: each is a KilnError with a place and a hint. */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it, vi } from "vitest";
import { isKilnError, type KilnError } from "../errors.js";
import { abortableSleep } from "../util/abort.js";
import { MAX_TIMER_MS, setLongTimeout } from "../util/timer.js";
import { type LoadOptions, loadBuildFile } from "./index.js";
import { parseYaml } from "./parse.js";

const fixtures = fileURLToPath(new URL("../../test/fixtures/plugins/", import.meta.url));
const scratch = mkdtempSync(join(fixtures, "tmp-hardening-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let n = 0;

function write(body: string, name = `f-${++n}.yaml`): string {
  const f = join(scratch, name);
  writeFileSync(f, body);
  return f;
}

function errorOf(fn: () => unknown): KilnError {
  try {
    fn();
  } catch (err) {
    if (isKilnError(err)) return err;
    throw err;
  }
  throw new Error("expected a KilnError");
}

/** As the CLI loads: with a standard set (a map a type name is looked up in). */
const standard = { builder: { qemu: "@kiln/builder-qemu" }, provisioner: { shell: "@kiln/provisioners" } };
const load = (file: string, o: Partial<LoadOptions> = {}) =>
  loadBuildFile({ file, env: {}, resolver: { standard }, ...o });
const loadErr = (body: string, o: Partial<LoadOptions> = {}) => errorOf(() => load(write(body), o));
const codes = (e: KilnError) => e.diagnostics.map((d) => d.code);

const VARS = "kiln: 1\nvariables:\n  x: { type: string, default: a }\n";

describe("names that are also JavaScript's", () => {
  it("a type called constructor, toString or __proto__ is an unknown plugin, at its place", () => {
    for (const t of ["constructor", "toString", "__proto__", "hasOwnProperty", "valueOf"]) {
      const e = loadErr(`kiln: 1\nsources:\n  a: { type: ${t} }\nbuilds: [{ sources: [a] }]\n`);
      const d = e.diagnostics.find((x) => x.path === "sources.a.type");
      expect(d?.code, t).toMatch(/^KILN_(PLUGIN_NOT_FOUND|SCHEMA_FORMAT)$/);
      expect(d?.pos?.line).toBe(3);
    }
  });

  it("--var and var-file keys called toString, constructor or __proto__ are undeclared variables", () => {
    for (const name of ["toString", "constructor", "__proto__"]) {
      expect(codes(loadErr(VARS, { vars: [`${name}=1`] }))).toEqual(["KILN_VAR_UNDEFINED"]);
      // in a variables file, as in Packer, a warning: the value is ignored
      const vf = write(`${name}: 1\n`, `v-${++n}.yaml`);
      const l = load(write(VARS), { varFiles: [vf] });
      expect(l.warnings.map((w) => w.code)).toEqual(["KILN_VAR_UNDEFINED"]);
      expect(Object.keys(l.variables)).toEqual(["x"]);
    }
  });

  it("a variable may be called constructor; a __proto__ key is an unknown key, never a hidden merge", () => {
    const l = load(write("kiln: 1\nvariables:\n  constructor: { type: string, default: a }\n"), {
      vars: ["constructor=b"],
    });
    expect(l.variables.constructor?.value).toBe("b");
    const e = loadErr(
      "kiln: 1\nsources:\n  a: { type: demo, iso_url: x, __proto__: { memory: 1 } }\nbuilds: [{ sources: [a] }]\n",
    );
    expect(e.diagnostics.map((d) => `${d.code} ${d.path}`)).toEqual([
      "KILN_SCHEMA_UNKNOWN_KEY sources.a.__proto__",
    ]);
  });
});

describe("files that are not regular files", () => {
  const dir = join(scratch, "a-dir.yaml");
  mkdirSync(dir);
  const fifo = join(scratch, "fifo.yaml");
  execFileSync("mkfifo", [fifo]);
  const zero = join(scratch, "zero.yaml");
  symlinkSync("/dev/zero", zero);

  it("a directory, FIFO or device as the build file is refused at once, never read", () => {
    for (const f of [dir, fifo, zero]) {
      const e = errorOf(() => load(f));
      expect(e.code).toBe("KILN_FILE_NOT_FOUND");
      expect(e.message).toContain(f);
    }
  });

  it("… and as a variables file", () => {
    for (const f of [dir, fifo, zero]) {
      const e = loadErr(VARS, { varFiles: [f] });
      expect(codes(e)).toEqual(["KILN_FILE_NOT_FOUND"]);
      expect(e.diagnostics[0]?.message).toMatch(/not a regular file|directory/);
    }
  });
});

describe("malformed YAML", () => {
  it("2,500 nested block lists are a positioned syntax error", () => {
    const e = errorOf(() => parseYaml(`kiln: 1\nx:\n${"- ".repeat(2500)}a\n`, "deep.yaml"));
    expect(e.code).toBe("KILN_YAML_SYNTAX");
    expect(e.diagnostics[0]?.pos?.line).toBe(3);
  });

  it("brackets inside quoted strings, block scalars, words and comments are not nesting", () => {
    const many = "[".repeat(300);
    const src = `kiln: 1\na: "${many}"\nb: '${many}'\nc: |\n  ${"{".repeat(300)}\nd: w${many}\n# ${many}\ne: [[1]]\n`;
    expect(parseYaml(src, "ok.yaml").value).toMatchObject({ a: many, b: many, e: [[1]] });
    // Real nesting is still refused.
    expect(errorOf(() => parseYaml(`kiln: 1\nx: ${many}${"]".repeat(300)}\n`, "deep.yaml")).message).toMatch(
      /nest more than 256/,
    );
  });

  it("an undefined alias is said to be one, not an alias limit", () => {
    const e = errorOf(() => parseYaml("kiln: 1\nx: *nope\n", "a.yaml"));
    expect(e.diagnostics[0]).toMatchObject({ code: "KILN_YAML_SYNTAX", pos: { line: 2, column: 4 } });
    expect(e.diagnostics[0]?.message).toContain("*nope refers to no anchor");
  });

  it("type: null gets a hint to quote it", () => {
    const e = loadErr("kiln: 1\nsources:\n  a: { type: null }\nbuilds: [{ sources: [a] }]\n");
    const d = e.diagnostics.find((x) => x.path === "sources.a.type");
    expect(d?.hint).toMatch(/"null" in quotes/);
  });
});

describe("plugin metadata that is malformed", () => {
  const mod = join(scratch, "node_modules");
  const plugin = (name: string, manifest: object, schema: object) => {
    const d = join(mod, name);
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, "package.json"), JSON.stringify({ name, version: "1.0.0", kiln: manifest }));
    writeFileSync(join(d, "schema.json"), JSON.stringify({ kiln: { api: "1" }, builders: schema }));
  };
  plugin("kiln-builder-bstring", { api: "1", builders: "bstring" }, { bstring: { type: "object" } });
  plugin(
    "kiln-builder-badre",
    { api: "1", builders: ["badre"] },
    {
      badre: { type: "object", properties: { x: { type: "string", pattern: "((" } } },
    },
  );
  plugin(
    "kiln-builder-badref",
    { api: "1", builders: ["badref"] },
    {
      badref: { type: "object", properties: { x: { $ref: "#/definitions/nope" } } },
    },
  );
  plugin(
    "kiln-builder-loopref",
    { api: "1", builders: ["loopref"] },
    {
      loopref: {
        type: "object",
        definitions: { a: { $ref: "#/definitions/b" }, b: { $ref: "#/definitions/a" } },
        properties: { x: { $ref: "#/definitions/a" } },
      },
    },
  );

  it("is the plugin's fault, reported at the type that uses it", () => {
    for (const t of ["bstring", "badre", "badref", "loopref"]) {
      const e = loadErr(`kiln: 1\nsources:\n  a: { type: ${t}, x: "v" }\nbuilds: [{ sources: [a] }]\n`);
      const d = e.diagnostics.find((x) => x.path === "sources.a.type");
      expect(d?.code, t).toBe("KILN_PLUGIN_MALFORMED");
      expect(d?.pos?.line, t).toBe(3);
    }
  });
});

describe("values read before a run renders anything", () => {
  it("refuse build-time values", () => {
    const e = loadErr(`kiln: 1
plugins: { steps: kiln-builder-steps }
sources:
  a: { type: steps, log: /dev/null }
builds:
  - sources: [a]
    provisioners:
      - { type: record, log: /dev/null, text: t, name: "run \${{ build.ID }}" }
`);
    expect(e.diagnostics.map((d) => `${d.code} ${d.path}`)).toEqual([
      "KILN_EXPR_EVAL builds[0].provisioners[0].name",
    ]);
  });
});

describe("durations longer than one timer", () => {
  it("setLongTimeout waits the whole time, past 2^31-1 ms", () => {
    vi.useFakeTimers();
    try {
      const fn = vi.fn();
      setLongTimeout(fn, 720 * 3_600_000);
      vi.advanceTimersByTime(10);
      expect(fn).not.toHaveBeenCalled();
      vi.advanceTimersByTime(MAX_TIMER_MS);
      expect(fn).not.toHaveBeenCalled();
      vi.advanceTimersByTime(720 * 3_600_000);
      expect(fn).toHaveBeenCalledTimes(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it("abortableSleep of 720h does not end early, and still ends on abort", async () => {
    const ctl = new AbortController();
    let done = false;
    const p = abortableSleep(720 * 3_600_000, ctl.signal).then(() => {
      done = true;
    });
    await new Promise((r) => setTimeout(r, 30));
    expect(done).toBe(false);
    ctl.abort(new Error("stop"));
    await expect(p).rejects.toThrow("stop");
  });
});
