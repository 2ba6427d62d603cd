// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${{ … }}` in plain strings is the syntax under test.
import { describe, expect, it } from "vitest";
import { checkTemplate, references } from "./check.js";
import { parseTemplate } from "./parse.js";
import { scope } from "./test-helpers.js";

const check = (text: string) => checkTemplate(parseTemplate(text), scope());

describe("checkTemplate", () => {
  it("finds nothing wrong in good templates, including deferred roots", () => {
    expect(
      check("${{ var.version }}-${{ local.disk }}-${{ build.ID }}-${{ http.ip }}-${{ lower(env.HOME) }}"),
    ).toEqual([]);
    expect(check("${{ var.password }}")).toEqual([]); // declared; a value is not needed to check
    expect(check("${{ local.later }}")).toEqual([]);
    expect(check("plain text")).toEqual([]);
  });

  it("reports unknown roots with a suggestion from values and deferred roots", () => {
    const text = "a ${{ vars.version }} ${{ bild.ID }}";
    const errs = checkTemplate(parseTemplate(text), scope());
    expect(errs.map((e) => [e.code, e.offset, e.length, e.hint])).toEqual([
      ["KILN_EXPR_UNKNOWN_NAME", 6, 4, 'Did you mean "var"?'],
      ["KILN_EXPR_UNKNOWN_NAME", text.indexOf("bild"), 4, 'Did you mean "build"?'],
    ]);
    expect(text.slice(6, 10)).toBe("vars");
    expect(text.indexOf("bild")).toBe(26);
  });

  it("lists the known roots when nothing is close", () => {
    const [e] = check("${{ zzzzzzzz }}");
    expect(e?.hint).toBe("Known names: build, env, http, local, path, var.");
  });

  it("reports undeclared members of declared roots, even with no value", () => {
    const text = "${{ var.verison }} ${{ local['dsk'] }} ${{ var.qqqqqqqqqq }}";
    const errs = checkTemplate(parseTemplate(text), scope());
    expect(errs).toHaveLength(3);
    expect(errs[0]).toMatchObject({
      code: "KILN_EXPR_UNKNOWN_NAME",
      offset: 4,
      hint: 'Did you mean "var.version"?',
    });
    expect(text.slice(errs[0]?.offset, (errs[0]?.offset ?? 0) + (errs[0]?.length ?? 0))).toBe("var.verison");
    expect(errs[1]?.hint).toBe('Did you mean "local.disk"?');
    expect(errs[2]?.hint).toMatch(/^Declared: var\./);
  });

  it("does not check members of roots without declarations", () => {
    expect(check("${{ env.ANYTHING }} ${{ build.whatever }}")).toEqual([]);
  });

  it("reports unknown functions and wrong arity, inside any nesting", () => {
    const errs = check("${{ [uper('a'), { k = lower() }, can(trimspac('x'))] }}");
    expect(errs.map((e) => [e.code, e.hint])).toEqual([
      ["KILN_EXPR_UNKNOWN_FUNCTION", 'Did you mean "upper()"?'],
      ["KILN_EXPR_TYPE", "lower() takes 1 argument: lower(str)."],
      ["KILN_EXPR_UNKNOWN_FUNCTION", 'Did you mean "trimspace()"?'],
    ]);
  });

  it("collects every problem across parts, in order", () => {
    const errs = check("${{ nope1 }} ok ${{ var.nope }} ${{ f() + g() }}");
    expect(errs.map((e) => e.code)).toEqual([
      "KILN_EXPR_UNKNOWN_NAME",
      "KILN_EXPR_UNKNOWN_NAME",
      "KILN_EXPR_UNKNOWN_FUNCTION",
      "KILN_EXPR_UNKNOWN_FUNCTION",
    ]);
    const offsets = errs.map((e) => e.offset);
    expect([...offsets].sort((a, b) => a - b)).toEqual(offsets);
  });

  it("checks index expressions and refuses prototype names as roots", () => {
    expect(check("${{ var.list[nope] }}").map((e) => e.code)).toEqual(["KILN_EXPR_UNKNOWN_NAME"]);
    expect(check("${{ __proto__ }}").map((e) => e.code)).toEqual(["KILN_EXPR_UNKNOWN_NAME"]);
    expect(check("${{ constructor }}").map((e) => e.code)).toEqual(["KILN_EXPR_UNKNOWN_NAME"]);
  });

  it("does no I/O", () => {
    expect(check("${{ file('/definitely/not/here') }}")).toEqual([]);
  });
});

describe("references", () => {
  it("lists roots and members with offsets", () => {
    const text = "${{ var.version }}/${{ local['disk'] + env.HOME }} ${{ build }} ${{ lower(var.name) }}";
    expect(references(parseTemplate(text))).toEqual([
      { root: "var", member: "version", offset: 4 },
      { root: "local", member: "disk", offset: 23 },
      { root: "env", member: "HOME", offset: text.indexOf("env.HOME") },
      { root: "build", offset: text.indexOf("build") },
      { root: "var", member: "name", offset: 74 },
    ]);
    expect(text.slice(74, 82)).toBe("var.name");
  });

  it("includes references in every branch and inside can()", () => {
    const refs = references(parseTemplate("${{ var.flag ? local.a : can(local.b.c) ? x[var.i] : 1 }}"));
    expect(refs.map((r) => `${r.root}.${r.member ?? ""}`)).toEqual([
      "var.flag",
      "local.a",
      "local.b",
      "x.",
      "var.i",
    ]);
  });

  it("is empty for plain text", () => {
    expect(references(parseTemplate("no $${{ refs }}"))).toEqual([]);
  });
});

describe("names with dashes", () => {
  it("reads dashed names as in HCL and explains subtraction", () => {
    const s = scope();
    (s.values.var as Record<string, unknown>)["vm-name"] = "box";
    s.members = { ...s.members, var: new Set([...(s.members?.var ?? []), "vm-name"]) };
    expect(checkTemplate(parseTemplate("${{ var.vm-name }}"), s)).toEqual([]);
    expect(references(parseTemplate("${{ var.vm-name }}"))).toEqual([
      { root: "var", member: "vm-name", offset: 4 },
    ]);
    const [e] = checkTemplate(parseTemplate("${{ var.n-1 }}"), s);
    expect(e?.code).toBe("KILN_EXPR_UNKNOWN_NAME");
    expect(e?.hint).toBe('Names may contain "-"; to subtract, put spaces around it: var.n - 1.');
    expect(checkTemplate(parseTemplate("${{ var.n - 1 }}"), s)).toEqual([]);
    expect(checkTemplate(parseTemplate("${{ var.n -1 }}"), s)).toEqual([]);
  });
});
