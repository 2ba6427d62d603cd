// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${{ … }}` in plain strings is the syntax under test.
import { describe, expect, it } from "vitest";
import type { Ast } from "./ast.js";
import { hasExpressions, parseExpression, parseTemplate, type TemplateExpr } from "./parse.js";
import { caught } from "./test-helpers.js";

function only(text: string): Ast {
  const t = parseTemplate(text);
  expect(t).toHaveLength(1);
  return (t[0] as TemplateExpr).ast;
}

/** A compact rendering of an AST to check structure and precedence. */
function show(n: Ast): string {
  switch (n.type) {
    case "literal":
      return JSON.stringify(n.value);
    case "name":
      return n.name;
    case "member":
      return `${show(n.object)}.${n.name}`;
    case "index":
      return `${show(n.object)}[${show(n.index)}]`;
    case "call":
      return `${n.callee}(${n.args.map(show).join(", ")})`;
    case "unary":
      return `(${n.op}${show(n.operand)})`;
    case "binary":
      return `(${show(n.left)} ${n.op} ${show(n.right)})`;
    case "conditional":
      return `(${show(n.test)} ? ${show(n.consequent)} : ${show(n.alternate)})`;
    case "list":
      return `[${n.items.map(show).join(", ")}]`;
    case "map":
      return `{${n.entries.map((e) => `${e.key}=${show(e.value)}`).join(", ")}}`;
  }
}

describe("hasExpressions", () => {
  it("finds ${{ and its escape, and nothing else", () => {
    expect(hasExpressions("a ${{ x }}")).toBe(true);
    expect(hasExpressions("a $${{ x }}")).toBe(true);
    expect(hasExpressions("a ${ x } {{ y }} $")).toBe(false);
    expect(hasExpressions("")).toBe(false);
  });
});

describe("parseTemplate", () => {
  it("splits text and expressions with offsets", () => {
    const text = "iso-${{ var.version }}-${{var.n}}.img";
    const t = parseTemplate(text);
    expect(t.map((p) => [p.kind, p.start, p.end])).toEqual([
      ["text", 0, 4],
      ["expr", 4, 22],
      ["text", 22, 23],
      ["expr", 23, 33],
      ["text", 33, 37],
    ]);
    expect(text.slice(4, 22)).toBe("${{ var.version }}");
    expect((t[1] as TemplateExpr).source).toBe("var.version");
    expect((t[3] as TemplateExpr).source).toBe("var.n");
    expect(t[4]).toMatchObject({ kind: "text", value: ".img" });
  });

  it("gives AST nodes offsets into the whole string", () => {
    const text = "xx ${{ var.version + 'a' }}";
    const ast = only(text.slice(3));
    expect(ast.type).toBe("binary");
    const t = parseTemplate(text);
    const a = (t[1] as TemplateExpr).ast;
    if (a.type !== "binary") throw new Error("binary expected");
    expect(text.slice(a.left.start, a.left.end)).toBe("var.version");
    expect(text.slice(a.right.start, a.right.end)).toBe("'a'");
    expect(text.slice(a.opStart, a.opStart + 1)).toBe("+");
  });

  it("returns no parts for the empty string and one text part for plain text", () => {
    expect(parseTemplate("")).toEqual([]);
    expect(parseTemplate("plain")).toEqual([{ kind: "text", value: "plain", start: 0, end: 5 }]);
  });

  it("turns $${{ into a literal ${{", () => {
    const t = parseTemplate("a $${{ not an expr }} b");
    expect(t).toEqual([{ kind: "text", value: "a ${{ not an expr }} b", start: 0, end: 23 }]);
    const t2 = parseTemplate("$${{x}}${{ 1 }}");
    expect(t2.map((p) => p.kind)).toEqual(["text", "expr"]);
    expect((t2[0] as { value: string }).value).toBe("${{x}}");
    expect(t2[1]?.start).toBe(7);
  });

  it("does not end an expression at }} inside a string or nested maps", () => {
    const t = parseTemplate("${{ '}}' }}!");
    expect((t[0] as TemplateExpr).ast).toMatchObject({ type: "literal", value: "}}" });
    expect(t[1]).toMatchObject({ kind: "text", value: "!" });
    expect(show(only("${{ {a = {b = 1}} }}"))).toBe("{a={b=1}}");
    expect(show(only("${{{a = {b = 1}}}}"))).toBe("{a={b=1}}");
  });

  it("reads literals and escapes", () => {
    const escapes = String.raw`"a\n\t\\\"\'b"`;
    const quote = String.raw`'it\'s'`;
    expect(only(`\${{ ${escapes} }}`)).toMatchObject({ value: "a\n\t\\\"'b" });
    expect(only(`\${{ ${quote} }}`)).toMatchObject({ value: "it's" });
    expect(only("${{ 1.5e3 }}")).toMatchObject({ value: 1500 });
    expect(only("${{ true }}")).toMatchObject({ value: true });
    expect(only("${{ null }}")).toMatchObject({ value: null });
  });

  it("parses maps with = and :, quoted keys and trailing commas", () => {
    expect(show(only(`\${{ { a = 1, "b c" = 2, } }}`))).toBe("{a=1, b c=2}");
    expect(show(only("${{ { a: 1, b: x ? 1 : 2 } }}"))).toBe("{a=1, b=(x ? 1 : 2)}");
    expect(show(only("${{ [1, [2, 3],] }}"))).toBe("[1, [2, 3]]");
  });

  it("applies the usual precedence and associativity", () => {
    const cases: Array<[string, string]> = [
      ["1 + 2 * 3", "(1 + (2 * 3))"],
      ["1 - 2 - 3", "((1 - 2) - 3)"],
      ["a || b && c", "(a || (b && c))"],
      ["a == b < c", "(a == (b < c))"],
      ["!a && -b > c % d", "((!a) && ((-b) > (c % d)))"],
      ["a ? b : c ? d : e", "(a ? b : (c ? d : e))"],
      ["(1 + 2) * 3", "((1 + 2) * 3)"],
      ["f(a.b[0], g())['k'].x", 'f(a.b[0], g())["k"].x'],
      ["a + b == c - d || e", "(((a + b) == (c - d)) || e)"],
    ];
    for (const [src, want] of cases) expect(show(only(`\${{ ${src} }}`)), src).toBe(want);
  });

  it("reports an unterminated ${{ at its offset", () => {
    const e = caught(() => parseTemplate("abc ${{ var.x"));
    expect(e.code).toBe("KILN_EXPR_SYNTAX");
    expect(e.offset).toBe(4);
    expect(e.length).toBe(3);
    const e2 = caught(() => parseTemplate("${{ 1 }} then ${{ 2 }"));
    expect(e2.offset).toBe(14);
  });

  it("reports syntax errors at the offending token", () => {
    const cases: Array<[string, number, RegExp]> = [
      ["${{ }}", 4, /empty/i],
      ["${{ 1 + }}", 8, /expected an expression/i],
      ["${{ a b }}", 6, /expected `}}`/i],
      ["${{ (1 }}", 7, /expected `\)`/i],
      ["${{ [1 2] }}", 7, /expected `,` or `]`/i],
      ["${{ 'abc }}", 4, /unterminated string/i],
      ["${{ 'a\\qb' }}", 6, /unknown escape/i],
      ["${{ a & b }}", 6, /unexpected character/i],
      ["${{ {a = 1, a = 2} }}", 12, /twice/],
      ["${{ {1 = 2} }}", 5, /map key/],
      ["${{ a.1 }}", 6, /expected a name after/i],
      ["${{ 12abc }}", 4, /malformed number/i],
      ["${{ f(1,, 2) }}", 8, /expected an expression/i],
      ["${{ a ? b }}", 10, /expected `:`/i],
    ];
    for (const [src, offset, msg] of cases) {
      const e = caught(() => parseTemplate(src));
      expect(e.code, src).toBe("KILN_EXPR_SYNTAX");
      expect(e.offset, src).toBe(offset);
      expect(e.message, src).toMatch(msg);
    }
  });

  it("refuses map keys that name object internals", () => {
    for (const k of ["__proto__", "constructor", "prototype", '"__proto__"']) {
      const e = caught(() => parseTemplate(`\${{ { ${k} = 1 } }}`));
      expect(e.code).toBe("KILN_EXPR_SYNTAX");
    }
  });
});

describe("parseExpression", () => {
  it("parses a bare expression and rejects trailing tokens", () => {
    expect(show(parseExpression("length(var.x) > 0"))).toBe("(length(var.x) > 0)");
    const e = caught(() => parseExpression("a b"));
    expect(e.offset).toBe(2);
    const e2 = caught(() => parseExpression("(a"));
    expect(e2.code).toBe("KILN_EXPR_SYNTAX");
  });
});
