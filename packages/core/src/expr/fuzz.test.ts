// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${{ … }}` in plain strings is the syntax under test.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { checkTemplate, references } from "./check.js";
import { ExprError } from "./errors.js";
import { evaluateTemplate } from "./evaluate.js";
import { FUNCTION_NAMES } from "./functions.js";
import { parseTemplate } from "./parse.js";
import { DEFERRED } from "./scope.js";
import { scope } from "./test-helpers.js";

const emptyDir = mkdtempSync(join(tmpdir(), "kiln-expr-fuzz-"));
afterAll(() => rmSync(emptyDir, { recursive: true, force: true }));
const fuzzScope = () => scope({ baseDir: emptyDir });

/** Run everything the module offers on `text`; only ExprError may escape, and quickly. */
function exercise(text: string): void {
  const t0 = performance.now();
  try {
    const t = parseTemplate(text);
    const s = fuzzScope();
    const errors = checkTemplate(t, s);
    for (const e of errors) expect(e).toBeInstanceOf(ExprError);
    references(t);
    const v = evaluateTemplate(t, s);
    expect(isResult(v)).toBe(true);
  } catch (e) {
    if (!(e instanceof ExprError)) throw e;
    expect(e.offset).toBeGreaterThanOrEqual(0);
    expect(e.offset).toBeLessThanOrEqual(text.length);
    expect(typeof e.message).toBe("string");
    expect(e.code).toMatch(/^KILN_EXPR_/);
  }
  expect(performance.now() - t0).toBeLessThan(2000);
}

function isResult(v: unknown, depth = 0): boolean {
  if (depth > 100) return false;
  if (v === DEFERRED || v === null) return true;
  if (["string", "number", "boolean"].includes(typeof v)) return true;
  if (Array.isArray(v)) return v.every((x) => isResult(x, depth + 1));
  if (typeof v === "object") return Object.values(v as object).every((x) => isResult(x, depth + 1));
  return false;
}

const TOKENS = [
  "${{",
  "}}",
  "$${{",
  "{",
  "}",
  "[",
  "]",
  "(",
  ")",
  "'",
  '"',
  "\\",
  ",",
  ".",
  ":",
  "?",
  "=",
  "==",
  "!=",
  "<",
  ">=",
  "+",
  "-",
  "*",
  "/",
  "%",
  "!",
  "&&",
  "||",
  " ",
  "\n",
  "0",
  "1",
  "1.5",
  "1e400",
  "true",
  "null",
  "var",
  "var.version",
  "var.list",
  "var.map",
  "local",
  "env",
  "build",
  "http",
  "x",
  "__proto__",
  "constructor",
  "prototype",
  "lower",
  "format",
  "replace",
  "can",
  "file",
  "templatefile",
  "regex_match",
  "'%s'",
  "'/(a+)+/'",
  "'a'",
  "$",
  "😀",
];

describe("fuzz: random strings", () => {
  it("never throws anything but ExprError on token soup", () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...TOKENS), { maxLength: 40 }), (parts) => {
        exercise(parts.join(""));
      }),
      { numRuns: 1500 },
    );
  });

  it("never throws anything but ExprError on arbitrary text inside ${{ }}", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60, unit: "binary" }), (inner) => {
        exercise(`\${{ ${inner} }}`);
        exercise(`a ${inner} \${{`);
      }),
      { numRuns: 300 },
    );
  });

  it("survives deep random nesting", () => {
    const opener = fc.constantFrom("(", "[", "{a=", "!", "-", "lower(", "can(", "x[", "1+", "true?1:");
    fc.assert(
      fc.property(fc.array(opener, { minLength: 50, maxLength: 3000 }), fc.boolean(), (ops, closed) => {
        const close = closed ? ops.map(closerOf).reverse().join("") : "";
        exercise(`\${{ ${ops.join("")}1${close} }}`);
      }),
      { numRuns: 60 },
    );
  });

  it("gives back text without expressions unchanged", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (text) => {
        fc.pre(!text.includes("${{"));
        expect(evaluateTemplate(parseTemplate(text), fuzzScope())).toBe(text);
      }),
      { numRuns: 300 },
    );
  });
});

function closerOf(op: string): string {
  switch (op) {
    case "(":
    case "lower(":
    case "can(":
      return ")";
    case "[":
    case "x[":
      return "]";
    case "{a=":
      return "}";
    default:
      return "";
  }
}

// Generated well-formed expressions, to get deep into evaluation rather than stopping at syntax.
const { expr } = fc.letrec<{ expr: string; leaf: string }>((tie) => ({
  leaf: fc.oneof(
    fc.integer({ min: -5, max: 100 }).map(String),
    fc.constantFrom(
      "0",
      "1.5",
      "1e308",
      "true",
      "false",
      "null",
      "''",
      "'a'",
      "'%s %d'",
      "'/[a-z]+/'",
      "'a,b'",
    ),
    fc.constantFrom(
      "var.version",
      "var.n",
      "var.list",
      "var.map",
      "var.nil",
      "var.empty",
      "var.flag",
      "env.HOME",
    ),
    fc.constantFrom("build.id", "http.ip", "local.disk", "var.password", "var.nope", "nope", "path.root"),
    fc.string({ maxLength: 8 }).map((s) => JSON.stringify(s)),
  ),
  expr: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    tie("leaf"),
    fc.tuple(fc.constantFrom("!", "-"), tie("expr")).map(([op, e]) => `${op}(${e})`),
    fc
      .tuple(
        tie("expr"),
        fc.constantFrom("*", "/", "%", "+", "-", "<", "<=", ">", ">=", "==", "!=", "&&", "||"),
        tie("expr"),
      )
      .map(([a, op, b]) => `(${a} ${op} ${b})`),
    fc.tuple(tie("expr"), tie("expr"), tie("expr")).map(([c, a, b]) => `(${c} ? ${a} : ${b})`),
    fc.array(tie("expr"), { maxLength: 4 }).map((items) => `[${items.join(", ")}]`),
    fc
      .array(fc.tuple(fc.constantFrom("a", "b", "'c d'", "k"), tie("expr")), { maxLength: 3 })
      .map((es) => `{ ${[...new Map(es).entries()].map(([k, v]) => `${k} = ${v}`).join(", ")} }`),
    fc.tuple(tie("expr"), tie("expr")).map(([o, i]) => `(${o})[${i}]`),
    fc.tuple(tie("expr"), fc.constantFrom("a", "k", "n", "version", "length")).map(([o, m]) => `(${o}).${m}`),
    fc
      .tuple(fc.constantFrom(...FUNCTION_NAMES, "nope"), fc.array(tie("expr"), { maxLength: 4 }))
      .map(([f, args]) => `${f}(${args.join(", ")})`),
  ),
})) as { expr: fc.Arbitrary<string> };

describe("fuzz: generated expressions", () => {
  it("evaluate to a value, DEFERRED, or an ExprError", () => {
    const outcomes = { value: 0, deferred: 0, error: 0 };
    fc.assert(
      fc.property(expr, fc.constantFrom("", "pre-"), (e, prefix) => {
        exercise(`${prefix}\${{ ${e} }}`);
        try {
          const v = evaluateTemplate(parseTemplate(`\${{ ${e} }}`), fuzzScope());
          outcomes[v === DEFERRED ? "deferred" : "value"]++;
        } catch {
          outcomes.error++;
        }
      }),
      { numRuns: 2000 },
    );
    // The generator must reach real evaluation, not only errors.
    expect(outcomes.value).toBeGreaterThan(200);
    expect(outcomes.deferred).toBeGreaterThan(20);
    expect(outcomes.error).toBeGreaterThan(200);
  });

  it("give the same value in parentheses, and scalars concatenate as their text", () => {
    fc.assert(
      fc.property(expr, (e) => {
        let a: unknown;
        try {
          a = evaluateTemplate(parseTemplate(`\${{ ${e} }}`), fuzzScope());
        } catch (err) {
          if (!(err instanceof ExprError)) throw err;
          return;
        }
        if (/uuid|timestamp/.test(e)) return;
        const b = evaluateTemplate(parseTemplate(`\${{ (${e}) }}`), fuzzScope());
        expect(b).toEqual(a);
        if (typeof a === "string" || typeof a === "number" || typeof a === "boolean") {
          expect(evaluateTemplate(parseTemplate(`<\${{ ${e} }}>`), fuzzScope())).toBe(`<${String(a)}>`);
        }
      }),
      { numRuns: 800 },
    );
  });
});
