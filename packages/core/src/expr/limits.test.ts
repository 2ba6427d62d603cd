// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${{ … }}` in plain strings is the syntax under test.
import { describe, expect, it } from "vitest";
import { evaluateTemplate } from "./evaluate.js";
import { MAX_COLLECTION_SIZE, MAX_DEPTH, MAX_STRING_LENGTH, MAX_TEMPLATE_LENGTH } from "./limits.js";
import { parseTemplate } from "./parse.js";
import { caught, ev, ex, scope } from "./test-helpers.js";

const big = "x".repeat(600 * 1024);
const withBig = () => {
  const s = scope();
  (s.values.var as Record<string, unknown>).big = big;
  s.members = { ...s.members, var: new Set([...(s.members?.var ?? []), "big"]) };
  return s;
};

describe("template length", () => {
  it("refuses strings longer than the limit with a syntax error", () => {
    const e = caught(() => parseTemplate(`\${{ 1 }}${"a".repeat(MAX_TEMPLATE_LENGTH)}`));
    expect(e.code).toBe("KILN_EXPR_SYNTAX");
    expect(e.offset).toBe(0);
    expect(e.hint).toMatch(/file\(\)/);
    expect(parseTemplate("a".repeat(MAX_TEMPLATE_LENGTH))).toHaveLength(1);
  });
});

describe("nesting depth", () => {
  const deep = (n: number) => [
    `${"(".repeat(n)}1${")".repeat(n)}`,
    `${"[".repeat(n)}1${"]".repeat(n)}`,
    `${"{a = ".repeat(n)}1${"}".repeat(n)}`,
    `${"!".repeat(n)}true`,
    `${"-".repeat(n)}1`,
    `${"(1 + ".repeat(n)}1${")".repeat(n)}`,
    `var${".a".repeat(n)}`,
    `var${"[0]".repeat(n)}`,
    `${"lower(".repeat(n)}'a'${")".repeat(n)}`,
    `${"true ? 1 : ".repeat(n)}2`,
    `${"[0][".repeat(n)}0${"]".repeat(n)}`,
  ];

  it("accepts reasonable nesting", () => {
    expect(ex(`${"(".repeat(40)}1${")".repeat(40)}`)).toBe(1);
    expect(ex(`${"[".repeat(40)}1${"]".repeat(40)}`)).toBeInstanceOf(Array);
    expect(ex(`${"1 + ".repeat(40)}1`)).toBe(41);
  });

  it("turns deep nesting into a clean syntax error, never a RangeError", () => {
    for (const n of [MAX_DEPTH + 1, 1000, 20_000]) {
      for (const src of deep(n)) {
        const text = `\${{ ${src} }}`;
        if (text.length > MAX_TEMPLATE_LENGTH) continue;
        const e = caught(() => parseTemplate(text));
        expect(e.code, src.slice(0, 20)).toBe("KILN_EXPR_SYNTAX");
        expect(e.message).toMatch(/nested/);
      }
    }
  });

  it("evaluates a flat chain of operators of any length as a loop: it is not nesting", () => {
    for (const n of [MAX_DEPTH + 2, 1000, 6000]) {
      expect(evaluateTemplate(parseTemplate(`\${{ ${"1 + ".repeat(n)}1 }}`), scope())).toBe(n + 1);
      expect(evaluateTemplate(parseTemplate(`\${{ ${"false || ".repeat(n)}true }}`), scope())).toBe(true);
      expect(evaluateTemplate(parseTemplate(`\${{ ${"10 - 1 * ".repeat(n)}0 }}`), scope())).toBe(
        10 - 10 * (n - 1),
      );
    }
  });

  it("handles deeply nested or cyclic values without crashing", () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    let deepList: unknown = 1;
    for (let i = 0; i < 10_000; i++) deepList = [deepList];
    const s = scope({ values: { c: cyclic, d: deepList }, members: {} });
    for (const src of [
      "x ${{ c }}",
      "${{ c == c }}",
      "${{ contains([c], c) }}",
      "${{ jsonencode(d) }}",
      "${{ d == d }}",
    ]) {
      const e = caught(() => evaluateTemplate(parseTemplate(src), s));
      expect(e.code, src).toBe("KILN_EXPR_EVAL");
      expect(e.message).toMatch(/nested/);
    }
    expect(evaluateTemplate(parseTemplate("${{ c.self.self.a }}"), s)).toBe(1);
  });
});

describe("result size", () => {
  it("refuses strings over the limit from every producer", () => {
    const s = withBig();
    const producers = [
      "${{ var.big + var.big }}",
      "${{ var.big }}${{ var.big }}",
      "${{ format('%s%s', var.big, var.big) }}",
      "${{ join(',', [var.big, var.big]) }}",
      "${{ replace(var.big, 'x', 'yy') }}",
      "${{ jsonencode([var.big, var.big]) }}",
      "a ${{ [var.big, var.big] }}",
      "${{ tostring(var.big) }}${{ lower(var.big) }}",
      "${{ concat([var.big], [var.big]) }} and text",
    ];
    for (const p of producers) {
      const e = caught(() => ev(p, s));
      expect(e.code, p).toBe("KILN_EXPR_EVAL");
      expect(e.message, p).toMatch(new RegExp(String(MAX_STRING_LENGTH)));
    }
    expect((ev("${{ var.big }}", s) as string).length).toBe(big.length);
    const huge = scope({ values: { h: "y".repeat(MAX_STRING_LENGTH + 1) }, members: {} });
    const e = caught(() => ev("${{ h }}", huge));
    expect(e.code).toBe("KILN_EXPR_EVAL");
    expect(e.offset).toBe(4);
  });

  it("refuses lists over the size limit", () => {
    const s = withBig();
    const e = caught(() => ex("split('', var.big)", s));
    expect(e.code).toBe("KILN_EXPR_EVAL");
    expect(e.message).toMatch(String(MAX_COLLECTION_SIZE));
    const s2 = scope({ values: { l: new Array(6000).fill(1) }, members: {} });
    expect(caught(() => ex("concat(l, l)", s2)).code).toBe("KILN_EXPR_EVAL");
  });

  it("applies regexes only to inputs up to 64 KiB", () => {
    const s = withBig();
    const e = caught(() => ex("regex_match(var.big, 'x')", s));
    expect(e.code).toBe("KILN_EXPR_EVAL");
    expect(e.message).toMatch(/65536/);
    expect(caught(() => ex("replace(var.big, '/x/', 'y')", s)).code).toBe("KILN_EXPR_EVAL");
  });

  it("keeps catastrophic patterns fast", () => {
    const t0 = Date.now();
    const s = scope({ values: { t: `${"a".repeat(60_000)}!` }, members: {} });
    expect(ex("regex_match(t, '^(a+)+$')", s)).toBe(false);
    expect(Date.now() - t0).toBeLessThan(5000);
  });
});
