// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${{ … }}` in plain strings is the syntax under test.
import { describe, expect, it } from "vitest";
import { evaluateExpression } from "./evaluate.js";
import { parseExpression, parseTemplate } from "./parse.js";
import { DEFERRED } from "./scope.js";
import { caught, ev, ex, scope } from "./test-helpers.js";

describe("raw values and concatenation", () => {
  it("keeps the type of a string that is exactly one expression", () => {
    expect(ev("${{ var.n }}")).toBe(3);
    expect(ev("${{   var.flag   }}")).toBe(true);
    expect(ev("${{ var.list }}")).toEqual(["a", "b", "c"]);
    expect(ev("${{ var.map }}")).toEqual({ k: "v", n: 1 });
    expect(ev("${{ var.nil }}")).toBeNull();
    expect(ev("${{ [1, 'a', { x = true }] }}")).toEqual([1, "a", { x: true }]);
  });

  it("joins pieces as text otherwise", () => {
    expect(ev("n=${{ var.n }}")).toBe("n=3");
    expect(ev("${{ var.flag }} ")).toBe("true ");
    expect(ev("${{ var.n }}${{ var.n }}")).toBe("33");
    expect(ev("[${{ var.nil }}]")).toBe("[]");
    expect(ev("l=${{ var.list }}")).toBe('l=["a","b","c"]');
    expect(ev("m=${{ var.map }}")).toBe('m={"k":"v","n":1}');
    expect(ev("${{ 0.5 }}%")).toBe("0.5%");
    expect(ev("no expressions")).toBe("no expressions");
    expect(ev("")).toBe("");
    expect(ev("a $${{ b }}")).toBe("a ${{ b }}");
  });
});

describe("operators", () => {
  it("computes arithmetic with precedence", () => {
    expect(ex("1 + 2 * 3")).toBe(7);
    expect(ex("(1 + 2) * 3")).toBe(9);
    expect(ex("10 - 4 - 3")).toBe(3);
    expect(ex("7 % 4 + 8 / 2")).toBe(7);
    expect(ex("-var.n + 1")).toBe(-2);
    expect(ex("- -2")).toBe(2);
  });

  it("compares and combines", () => {
    expect(ex("1 < 2 && 2 <= 2 && 3 > 2 && 3 >= 4")).toBe(false);
    expect(ex("'a' < 'b'")).toBe(true);
    expect(ex("1 == 1 && 'a' != 'b'")).toBe(true);
    expect(ex("[1, {a = 'x'}] == [1, {a = 'x'}]")).toBe(true);
    expect(ex("{a = 1, b = 2} == {b = 2, a = 1}")).toBe(true);
    expect(ex("[1] == [1, 2]")).toBe(false);
    expect(ex("1 == '1'")).toBe(false);
    expect(ex("null == var.nil")).toBe(true);
    expect(ex("!var.flag || true")).toBe(true);
    expect(ex("true || false && false")).toBe(true);
    expect(ex("'a' + 'b' + var.version")).toBe("ab24.04");
  });

  it("chooses with ?: and short-circuits", () => {
    expect(ex("var.flag ? 'yes' : 'no'")).toBe("yes");
    expect(ex("!var.flag ? 'yes' : var.n > 2 ? 'big' : 'small'")).toBe("big");
    // The untaken branch is not evaluated: no error, no deferral.
    expect(ex("true ? 1 : 1 / 0")).toBe(1);
    expect(ex("false && (1 / 0 == 1)")).toBe(false);
    expect(ex("true || build.x")).toBe(true);
    expect(ex("false ? build.x : 'now'")).toBe("now");
  });

  it("rejects wrong operand types with KILN_EXPR_TYPE at the operand", () => {
    const text = "${{ 1 + 'a' }}";
    const e = caught(() => ev(text));
    expect(e.code).toBe("KILN_EXPR_TYPE");
    expect(e.hint).toMatch(/tostring|format/);
    const e2 = caught(() => ev("${{ 'a' * 2 }}"));
    expect(e2.code).toBe("KILN_EXPR_TYPE");
    expect(e2.offset).toBe(4);
    const e3 = caught(() => ev("${{ var.n ? 1 : 2 }}"));
    expect(e3.code).toBe("KILN_EXPR_TYPE");
    expect(e3.offset).toBe(4);
    expect(caught(() => ex("!1")).code).toBe("KILN_EXPR_TYPE");
    expect(caught(() => ex("-'a'")).code).toBe("KILN_EXPR_TYPE");
    expect(caught(() => ex("1 && true")).code).toBe("KILN_EXPR_TYPE");
    expect(caught(() => ex("true && 1")).code).toBe("KILN_EXPR_TYPE");
    expect(caught(() => ex("1 < 'a'")).code).toBe("KILN_EXPR_TYPE");
  });

  it("reports division by zero and overflow as KILN_EXPR_EVAL", () => {
    const e = caught(() => ev("${{ 1 / 0 }}"));
    expect(e.code).toBe("KILN_EXPR_EVAL");
    expect(e.offset).toBe(8);
    expect(caught(() => ex("5 % 0")).code).toBe("KILN_EXPR_EVAL");
    expect(caught(() => ex("1e308 * 10")).code).toBe("KILN_EXPR_EVAL");
  });
});

describe("names, members and indexes", () => {
  it("reads members and indexes", () => {
    expect(ex("var.list[1]")).toBe("b");
    expect(ex("var.map['k']")).toBe("v");
    expect(ex("var['version']")).toBe("24.04");
    expect(ex("{a = [10, 20]}.a[1]")).toBe(20);
    expect(ex("path.root")).toBe("/project");
  });

  it("reports out-of-range and wrong-typed indexes", () => {
    const e = caught(() => ex("var.list[3]"));
    expect(e.code).toBe("KILN_EXPR_EVAL");
    expect(e.message).toMatch(/out of range/);
    expect(caught(() => ex("var.list[-1]")).code).toBe("KILN_EXPR_EVAL");
    expect(caught(() => ex("var.list[0.5]")).code).toBe("KILN_EXPR_TYPE");
    expect(caught(() => ex("var.list['a']")).code).toBe("KILN_EXPR_TYPE");
    expect(caught(() => ex("var.map[1]")).code).toBe("KILN_EXPR_TYPE");
    expect(caught(() => ex("var.list.a")).code).toBe("KILN_EXPR_TYPE");
    expect(caught(() => ex("var.n.x")).code).toBe("KILN_EXPR_TYPE");
    const e2 = caught(() => ex("var.version[0]"));
    expect(e2.code).toBe("KILN_EXPR_TYPE");
    expect(e2.message).toBe("Cannot index var.version, which is a string.");
  });

  it("suggests a close key for a missing map key", () => {
    const e = caught(() => ex("env.HOEM"));
    expect(e.code).toBe("KILN_EXPR_EVAL");
    expect(e.hint).toBe('Did you mean "env.HOME"?');
    const e2 = caught(() => ex("env.SOMETHING_ELSE"));
    expect(e2.message).toBe("The environment variable SOMETHING_ELSE is not set.");
    expect(e2.hint).toMatch(/env\("SOMETHING_ELSE"\), which gives "" for an unset variable/);
    expect(ex('env("SOMETHING_ELSE")')).toBe("");
    expect(ex('env("HOME")')).toBe(ex("env.HOME"));
  });

  it("reports unknown roots and undeclared members while evaluating", () => {
    const e = caught(() => ev("x ${{ vr.version }}"));
    expect(e.code).toBe("KILN_EXPR_UNKNOWN_NAME");
    expect(e.offset).toBe(6);
    expect(e.hint).toBe('Did you mean "var"?');
    const e2 = caught(() => ev("${{ var.verison }}"));
    expect(e2.code).toBe("KILN_EXPR_UNKNOWN_NAME");
    expect(e2.hint).toBe('Did you mean "var.version"?');
    // Declared but without a value.
    const e3 = caught(() => ex("var.password"));
    expect(e3.code).toBe("KILN_EXPR_EVAL");
    expect(e3.message).toMatch(/var\.password/);
  });

  it("never reaches object internals", () => {
    const probes = [
      "var.__proto__",
      "var['__proto__']",
      "var.constructor",
      "var['constructor']",
      "var.list.constructor",
      "var.map.prototype",
      "var.map['constructor']['name']",
      "env.toString",
      "env.hasOwnProperty",
      "var.list['length']",
      "var.version.length",
      "__proto__",
      "constructor",
      "toString",
      "{}.constructor",
      "[].constructor",
      "'x'.constructor",
    ];
    const s = scope({ members: {} });
    for (const p of probes) {
      const e = caught(() => ex(p, s));
      expect(["KILN_EXPR_EVAL", "KILN_EXPR_TYPE", "KILN_EXPR_UNKNOWN_NAME"], p).toContain(e.code);
    }
    expect(caught(() => ex("constructor(1)")).code).toBe("KILN_EXPR_UNKNOWN_FUNCTION");
    expect(caught(() => ex("toString()")).code).toBe("KILN_EXPR_UNKNOWN_FUNCTION");
  });

  it("reads only own data properties of plain objects", () => {
    let calls = 0;
    const withGetter = Object.defineProperty({}, "secret", {
      enumerable: true,
      get() {
        calls++;
        return "x";
      },
    });
    class Box {
      inside = 1;
    }
    const inherited = Object.create({ parent: 1 }) as object;
    const s = scope({
      values: {
        g: withGetter,
        box: new Box(),
        inh: inherited,
        fn: () => 1,
        date: new Date(0),
        json: JSON.parse('{"__proto__": {"x": 1}}'),
      },
      members: {},
    });
    expect(caught(() => ex("g.secret", s)).code).toBe("KILN_EXPR_EVAL");
    expect(calls).toBe(0);
    expect(caught(() => ex("box.inside", s)).code).toBe("KILN_EXPR_TYPE");
    expect(caught(() => ex("inh.parent", s)).code).toBe("KILN_EXPR_TYPE");
    expect(caught(() => ex("fn.name", s)).code).toBe("KILN_EXPR_TYPE");
    expect(caught(() => ev("a${{ fn }}", s)).code).toBe("KILN_EXPR_TYPE");
    expect(caught(() => ev("${{ fn }}", s)).code).toBe("KILN_EXPR_TYPE");
    expect(caught(() => ev("${{ date }}", s)).code).toBe("KILN_EXPR_TYPE");
    expect(caught(() => ex("date.getTime", s)).code).toBe("KILN_EXPR_TYPE");
    expect(caught(() => ex("json.__proto__.x", s)).code).toBe("KILN_EXPR_EVAL");
    expect(ex("keys(json)", s)).toEqual([]);
    // Null-prototype maps are plain.
    const bare = Object.assign(Object.create(null) as object, { a: 1 });
    expect(ex("m.a", scope({ values: { m: bare }, members: {} }))).toBe(1);
  });
});

describe("deferred roots", () => {
  it("returns DEFERRED when a deferred root is used", () => {
    expect(ev("${{ build.ID }}")).toBe(DEFERRED);
    expect(ev("http://${{ http.ip }}:${{ http.port }}/")).toBe(DEFERRED);
    expect(ev("${{ upper(build.name) }}")).toBe(DEFERRED);
    expect(ev("${{ var.version }}-${{ build.x }}")).toBe(DEFERRED);
    expect(ev("${{ can(build.x) }}")).toBe(DEFERRED);
    expect(ev("${{ var.flag ? build.x : 1 }}")).toBe(DEFERRED);
  });

  it("prefers a bound value over a deferred name", () => {
    expect(ev("${{ build.x }}", scope({ values: { build: { x: 1 } } }))).toBe(1);
  });

  it("still reports real errors", () => {
    expect(caught(() => ev("${{ nope }}")).code).toBe("KILN_EXPR_UNKNOWN_NAME");
  });

  it("says a declared root without values has no value yet", () => {
    const s = scope({ values: {}, members: { local: new Set(["a"]) } });
    const e = caught(() => ex("local.a", s));
    expect(e.code).toBe("KILN_EXPR_EVAL");
    expect(e.message).toMatch(/no value yet/);
  });
});

describe("can()", () => {
  it("is true when its argument evaluates and false on any expression error", () => {
    expect(ex("can(var.version)")).toBe(true);
    expect(ex("can(var.map.missing)")).toBe(false);
    expect(ex("can(1 / 0)")).toBe(false);
    expect(ex("can(tonumber('x'))")).toBe(false);
    expect(ex("can(nope)")).toBe(false);
    expect(ex("can(var.list[10]) ? 'has' : 'short'")).toBe("short");
  });
  it("still needs exactly one argument", () => {
    expect(caught(() => ex("can()")).code).toBe("KILN_EXPR_TYPE");
    expect(caught(() => ex("can(1, 2)")).hint).toMatch(/can\(\) takes 1 argument/);
  });
});

describe("evaluateExpression", () => {
  it("evaluates a bare expression, e.g. a validation condition", () => {
    expect(
      evaluateExpression(parseExpression("regex_match(var.version, '^\\\\d+\\\\.\\\\d+$')"), scope()),
    ).toBe(true);
    expect(evaluateExpression(parseExpression("build.x"), scope())).toBe(DEFERRED);
  });
  it("evaluates parsed templates repeatedly with different scopes", () => {
    const t = parseTemplate("${{ var.n * 2 }}");
    expect(ev("${{ var.n * 2 }}")).toBe(6);
    const s = scope();
    (s.values.var as { n: number }).n = 5;
    expect(evaluateExpression((t[0] as { ast: never }).ast, s)).toBe(10);
  });
});

describe("dashed names", () => {
  it("evaluates them, and subtraction with spaces", () => {
    const s = scope({
      values: { var: { "vm-name": "box", n: 3 } },
      members: { var: new Set(["vm-name", "n"]) },
    });
    expect(ex("var.vm-name", s)).toBe("box");
    expect(ex("var.n - 1", s)).toBe(2);
    expect(ex("var.n -1", s)).toBe(2);
    expect(ex("5-1", s)).toBe(4);
    const e = caught(() => ex("var.n-1", s));
    expect(e.code).toBe("KILN_EXPR_UNKNOWN_NAME");
    expect(e.hint).toMatch(/var\.n - 1/);
  });
});
