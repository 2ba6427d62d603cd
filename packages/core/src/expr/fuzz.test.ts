// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${{ … }}` in plain strings is the syntax under test.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import type { Ast, BinaryOp } from "./ast.js";
import { checkTemplate, references } from "./check.js";
import { ExprError } from "./errors.js";
import { evaluateTemplate } from "./evaluate.js";
import { FUNCTION_NAMES } from "./functions/index.js";
import { parseTemplate, type Template, type TemplateExpr } from "./parse.js";
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
      { numRuns: 800 },
    );
  });

  it("never throws anything but ExprError on arbitrary text inside ${{ }}", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60, unit: "binary" }), (inner) => {
        exercise(`\${{ ${inner} }}`);
        exercise(`a ${inner} \${{`);
      }),
      { numRuns: 200 },
    );
  });

  it("survives deep random nesting", () => {
    const opener = fc.constantFrom("(", "[", "{a=", "!", "-", "lower(", "can(", "x[", "1+", "true?1:");
    fc.assert(
      fc.property(fc.array(opener, { minLength: 50, maxLength: 3000 }), fc.boolean(), (ops, closed) => {
        const close = closed ? ops.map(closerOf).reverse().join("") : "";
        exercise(`\${{ ${ops.join("")}1${close} }}`);
      }),
      { numRuns: 30 },
    );
  });

  it("gives back text without expressions unchanged", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (text) => {
        fc.pre(!text.includes("${{"));
        expect(evaluateTemplate(parseTemplate(text), fuzzScope())).toBe(text);
      }),
      { numRuns: 200 },
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
      { numRuns: 1000 },
    );
    // The generator must reach real evaluation, not only errors.
    expect(outcomes.value).toBeGreaterThan(100);
    expect(outcomes.deferred).toBeGreaterThan(10);
    expect(outcomes.error).toBeGreaterThan(100);
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
      { numRuns: 400 },
    );
  });
});

// Syntax trees built directly, including shapes the parser never produces (huge depth, odd keys).
const at = { start: 0, end: 1 };
const { node } = fc.letrec<{ node: Ast; leaf: Ast }>((tie) => ({
  leaf: fc.oneof(
    fc
      .oneof(fc.string({ maxLength: 6 }), fc.double(), fc.boolean(), fc.constant(null))
      .map((value): Ast => ({ type: "literal", value, ...at })),
    fc
      .constantFrom(
        "var",
        "local",
        "env",
        "build",
        "http",
        "path",
        "nope",
        "__proto__",
        "constructor",
        "toString",
      )
      .map((name): Ast => ({ type: "name", name, ...at })),
  ),
  node: fc.oneof(
    { depthSize: "small" },
    tie("leaf"),
    fc.array(tie("node"), { maxLength: 3 }).map((items): Ast => ({ type: "list", items, ...at })),
    fc
      .array(fc.tuple(fc.constantFrom("a", "b", "__proto__", "constructor"), tie("node")), { maxLength: 3 })
      .map(
        (es): Ast => ({
          type: "map",
          entries: es.map(([key, value]) => ({ key, keyStart: 0, keyEnd: 1, value })),
          ...at,
        }),
      ),
    fc
      .tuple(tie("node"), fc.constantFrom("version", "list", "a", "HOME", "__proto__", "prototype", "length"))
      .map(([object, name]): Ast => ({ type: "member", object, name, nameStart: 0, ...at })),
    fc
      .tuple(tie("node"), tie("node"))
      .map(([object, index]): Ast => ({ type: "index", object, index, ...at })),
    fc
      .tuple(
        fc.constantFrom(...FUNCTION_NAMES, "nope", "constructor"),
        fc.array(tie("node"), { maxLength: 3 }),
      )
      .map(([callee, args]): Ast => ({ type: "call", callee, calleeEnd: 1, args, ...at })),
    fc
      .tuple(fc.constantFrom("!", "-") as fc.Arbitrary<"!" | "-">, tie("node"))
      .map(([op, operand]): Ast => ({ type: "unary", op, operand, ...at })),
    fc
      .tuple(
        tie("node"),
        fc.constantFrom<BinaryOp>("*", "/", "%", "+", "-", "<", "<=", ">", ">=", "==", "!=", "&&", "||"),
        tie("node"),
      )
      .map(([left, op, right]): Ast => ({ type: "binary", op, opStart: 0, left, right, ...at })),
    fc
      .tuple(tie("node"), tie("node"), tie("node"))
      .map(
        ([test, consequent, alternate]): Ast => ({ type: "conditional", test, consequent, alternate, ...at }),
      ),
  ),
})) as { node: fc.Arbitrary<Ast> };

function asTemplate(ast: Ast, alone: boolean): Template {
  const e: TemplateExpr = { kind: "expr", source: "", ast, start: 0, end: 1 };
  return alone ? [e] : [{ kind: "text", value: "t", start: 0, end: 0 }, e];
}

describe("fuzz: generated syntax trees", () => {
  it("evaluate, check and list references with only ExprError escaping", () => {
    fc.assert(
      fc.property(node, fc.boolean(), (ast, alone) => {
        const t = asTemplate(ast, alone);
        const s = fuzzScope();
        for (const e of checkTemplate(t, s)) expect(e).toBeInstanceOf(ExprError);
        references(t);
        try {
          expect(isResult(evaluateTemplate(t, s))).toBe(true);
        } catch (e) {
          if (!(e instanceof ExprError)) throw e;
        }
      }),
      { numRuns: 800 },
    );
  });

  it("never lets a hand-built map key reach the prototype", () => {
    const value: Ast = { type: "map", entries: [], ...at };
    const ast: Ast = { type: "map", entries: [{ key: "__proto__", keyStart: 0, keyEnd: 1, value }], ...at };
    let e: unknown;
    try {
      evaluateTemplate(asTemplate(ast, true), fuzzScope());
    } catch (x) {
      e = x;
    }
    expect(e).toBeInstanceOf(ExprError);
  });

  it("survives hand-built trees far deeper than the parser allows", () => {
    for (const make of [
      (inner: Ast): Ast => ({ type: "unary", op: "-", operand: inner, ...at }),
      (inner: Ast): Ast => ({ type: "list", items: [inner], ...at }),
      (inner: Ast): Ast => ({ type: "call", callee: "can", calleeEnd: 1, args: [inner], ...at }),
    ]) {
      let ast: Ast = { type: "literal", value: 1, ...at };
      for (let i = 0; i < 100_000; i++) ast = make(ast);
      const t = asTemplate(ast, true);
      expect(checkTemplate(t, fuzzScope())).toEqual([]);
      expect(references(t)).toEqual([]);
      try {
        evaluateTemplate(t, fuzzScope());
      } catch (e) {
        expect(e).toBeInstanceOf(ExprError);
      }
    }
  });
});
