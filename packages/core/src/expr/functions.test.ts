// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${{ … }}` in plain strings is the syntax under test.
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FUNCTION_NAMES } from "./functions/index.js";
import { MAX_FILE_SIZE } from "./limits.js";
import { caught, ev, ex, scope } from "./test-helpers.js";

let dir = "";
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "kiln-expr-"));
  writeFileSync(join(dir, "hello.txt"), "héllo\n");
  writeFileSync(join(dir, "bom.txt"), "\uFEFFbom");
  writeFileSync(
    join(dir, "user-data.tpl"),
    "host=${{ hostname }} v=${{ var.version }} n=${{ count + 1 }} $${{ raw }}",
  );
  writeFileSync(join(dir, "one.tpl"), "${{ count }}");
  writeFileSync(join(dir, "bad.tpl"), "line1\nx ${{ nope }}");
  writeFileSync(join(dir, "syntax.tpl"), "${{ 1 + }}");
  writeFileSync(join(dir, "loop.tpl"), "${{ templatefile('loop.tpl', {}) }}");
  writeFileSync(join(dir, "later.tpl"), "${{ build.x }}");
  writeFileSync(join(dir, "binary.bin"), Buffer.from([0xff, 0xfe, 0x00, 0x80]));
  writeFileSync(join(dir, "big.txt"), Buffer.alloc(MAX_FILE_SIZE + 1, 0x61));
  mkdirSync(join(dir, "sub"));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const s = () => scope({ baseDir: dir });
const err = (src: string) => caught(() => ex(src, s()));

describe("string functions", () => {
  it("lower, upper", () => {
    expect(ex("lower('AbC')")).toBe("abc");
    expect(ex("upper('AbC')")).toBe("ABC");
    const e = caught(() => ev("${{ lower(1) }}"));
    expect(e.code).toBe("KILN_EXPR_TYPE");
    expect(e.message).toBe("lower() argument 1 must be a string, got a number.");
    expect(e.offset).toBe(10);
  });

  it("replace with a substring replaces every occurrence, literally", () => {
    expect(ex("replace('a-b-c', '-', '+')")).toBe("a+b+c");
    expect(ex("replace('a.b', '.', '$&')")).toBe("a$&b");
    expect(ex("replace('abc', 'x', 'y')")).toBe("abc");
    expect(err("replace('abc', '', 'y')").code).toBe("KILN_EXPR_EVAL");
  });

  it("replace with /re/ uses a regular expression with groups", () => {
    expect(ex("replace('a1b22c333', '/[0-9]+/', '#')")).toBe("a#b#c#");
    expect(ex("replace('2024-05-06', '/(\\\\d+)-(\\\\d+)-(\\\\d+)/', '$3.$2.${1}')")).toBe("06.05.2024");
    expect(ex("replace('abc', '/x*/', '-')")).toBe("-a-b-c-");
    expect(ex("replace('cost: 5', '/\\\\d/', '$$')")).toBe("cost: $");
    const e = err("replace('a', '/(/', 'b')");
    expect(e.code).toBe("KILN_EXPR_EVAL");
    expect(e.message).toMatch(/invalid regular expression/);
    expect(err("replace('a', '/(?=a)/', 'b')").code).toBe("KILN_EXPR_EVAL");
    expect(err(`replace('a', '/${"a".repeat(300)}/', 'b')`).message).toMatch(/256/);
  });

  it("regex_match", () => {
    expect(ex("regex_match('24.04', '^\\\\d+\\\\.\\\\d+$')")).toBe(true);
    expect(ex("regex_match('24.04.1', '^\\\\d+\\\\.\\\\d+$')")).toBe(false);
    expect(ex("regex_match('Hello', '(?i)^hello$')")).toBe(true);
    expect(ex("regex_match('x-1', '/[a-z]-\\\\d/')")).toBe(true);
    expect(err("regex_match(1, 'a')").code).toBe("KILN_EXPR_TYPE");
    expect(err("regex_match('a', '[')").code).toBe("KILN_EXPR_EVAL");
  });

  it("split and join", () => {
    expect(ex("split(',', 'a,b,,c')")).toEqual(["a", "b", "", "c"]);
    expect(ex("split('', 'añ😀')")).toEqual(["a", "ñ", "😀"]);
    expect(ex("join('-', ['a', 1, true])")).toBe("a-1-true");
    expect(ex("join(',', [])")).toBe("");
    const e = err("join(',', ['a', ['b']])");
    expect(e.code).toBe("KILN_EXPR_TYPE");
    expect(e.message).toMatch(/item 1/);
    expect(err("join(',', 'abc')").message).toBe("join() argument 2 must be a list, got a string.");
    expect(err("split(',', 1)").message).toMatch(/split\(\) argument 2/);
  });

  it("trim and trimspace", () => {
    expect(ex("trim('?!hello?!', '!?')")).toBe("hello");
    expect(ex("trim('xxx', 'x')")).toBe("");
    expect(ex("trimspace('  \\t a b \\n')")).toBe("a b");
  });

  it("format", () => {
    expect(ex("format('%s is %d years, %q, %v, 100%%', 'x', 42, 'q\"', [1])")).toBe(
      'x is 42 years, "q\\"", [1], 100%',
    );
    expect(ex("format('%s|%s|%s', null, true, 1.5)")).toBe("|true|1.5");
    expect(err("format('%d', 1.5)").code).toBe("KILN_EXPR_TYPE");
    // As Packer: a string that is a number converts for %d.
    expect(ex("format('%d', '1')")).toBe("1");
    expect(err("format('%d', 'x')").message).toMatch(/argument 2/);
    expect(err("format('%s %s', 'a')").code).toBe("KILN_EXPR_EVAL");
    expect(err("format('%s', 'a', 'b')").code).toBe("KILN_EXPR_EVAL");
    expect(err("format('%y', 1)").hint).toMatch(/%v %s %q %t %d/);
    expect(err("format('%', 1)").code).toBe("KILN_EXPR_EVAL");
  });

  it("startswith, endswith, contains on strings", () => {
    expect(ex("startswith('ubuntu-24', 'ubuntu')")).toBe(true);
    expect(ex("endswith('ubuntu-24', 'ubuntu')")).toBe(false);
    expect(ex("contains('ubuntu', 'bun')")).toBe(true);
    expect(err("contains('ubuntu', 1)").code).toBe("KILN_EXPR_TYPE");
  });

  it("sha256, base64encode, base64decode", () => {
    expect(ex("sha256('abc')")).toBe(createHash("sha256").update("abc").digest("hex"));
    expect(ex("sha256('')")).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect(ex("base64encode('héllo')")).toBe(Buffer.from("héllo").toString("base64"));
    expect(ex("base64decode(base64encode('héllo'))")).toBe("héllo");
    expect(err("base64decode('not base64!')").code).toBe("KILN_EXPR_EVAL");
    expect(err("base64decode('//79')").message).toMatch(/UTF-8/);
  });
});

describe("collection functions", () => {
  it("length", () => {
    expect(ex("length('añ😀')")).toBe(3);
    expect(ex("length(var.list)")).toBe(3);
    expect(ex("length(var.map)")).toBe(2);
    expect(err("length(1)").message).toBe("length() argument 1 must be a string, list or map, got a number.");
  });
  it("contains on lists", () => {
    expect(ex("contains(var.list, 'b')")).toBe(true);
    expect(ex("contains([[1], {a = 2}], {a = 2})")).toBe(true);
    expect(ex("contains([1, 2], '1')")).toBe(false);
    expect(err("contains(var.map, 'k')").code).toBe("KILN_EXPR_TYPE");
  });
  it("keys, values, lookup", () => {
    expect(ex("keys({b = 1, a = 2})")).toEqual(["a", "b"]);
    expect(ex("values({b = 1, a = 2})")).toEqual([2, 1]);
    expect(ex("lookup(var.map, 'k', 'd')")).toBe("v");
    expect(ex("lookup(var.map, 'zz', 'd')")).toBe("d");
    expect(ex("lookup(var.map, 'k')")).toBe("v");
    expect(ex("lookup(var.map, 'constructor', 'safe')")).toBe("safe");
    expect(ex("lookup(var.map, '__proto__', 'safe')")).toBe("safe");
    expect(err("lookup(var.map, 'zz')").code).toBe("KILN_EXPR_EVAL");
    expect(err("keys(var.list)").message).toBe("keys() argument 1 must be a map, got a list.");
    expect(err("lookup(var.map, 1, 2)").message).toMatch(/argument 2/);
  });
  it("concat", () => {
    expect(ex("concat([1], [], [2, 3])")).toEqual([1, 2, 3]);
    expect(err("concat([1], 2)").message).toBe("concat() argument 2 must be a list, got a number.");
  });
  it("coalesce", () => {
    expect(ex("coalesce(null, '', 'x', 'y')")).toBe("x");
    expect(ex("coalesce(var.nil, var.empty, 0)")).toBe(0);
    expect(err("coalesce(null, '')").code).toBe("KILN_EXPR_EVAL");
  });
});

describe("conversion and number functions", () => {
  it("tostring, tonumber, tobool", () => {
    expect(ex("tostring(1.5)")).toBe("1.5");
    expect(ex("tostring(true)")).toBe("true");
    expect(ex("tostring(null)")).toBeNull();
    expect(err("tostring([1])").code).toBe("KILN_EXPR_TYPE");
    expect(ex("tonumber('42')")).toBe(42);
    expect(ex("tonumber(' -1.5e2 ')")).toBe(-150);
    expect(ex("tonumber(7)")).toBe(7);
    expect(err("tonumber('12abc')").code).toBe("KILN_EXPR_EVAL");
    expect(err("tonumber('')").code).toBe("KILN_EXPR_EVAL");
    expect(err("tonumber(true)").code).toBe("KILN_EXPR_TYPE");
    expect(ex("tobool('true')")).toBe(true);
    expect(ex("tobool(false)")).toBe(false);
    expect(err("tobool('yes')").code).toBe("KILN_EXPR_EVAL");
    expect(err("tobool(1)").code).toBe("KILN_EXPR_TYPE");
  });
  it("min, max, abs", () => {
    expect(ex("min(3, 1, 2)")).toBe(1);
    expect(ex("max(3, 1, 2)")).toBe(3);
    expect(ex("abs(-4.5)")).toBe(4.5);
    expect(err("min(1, '2')").message).toBe("min() argument 2 must be a number, got a string.");
  });
});

describe("time, ids and paths", () => {
  it("timestamp is RFC 3339 UTC from the injected clock", () => {
    expect(ex("timestamp()")).toBe("2026-01-02T03:04:05Z");
    expect(ex("timestamp()", scope({ now: undefined }))).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });
  it("uuid is a v4 UUID and differs per call", () => {
    const a = ex("uuid()") as string;
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(ex("uuid()")).not.toBe(a);
  });
  it("basename, dirname, abspath", () => {
    expect(ex("basename('/a/b/c.iso')")).toBe("c.iso");
    expect(ex("dirname('/a/b/c.iso')")).toBe("/a/b");
    expect(ex("abspath('out/x')")).toBe(resolve("/project", "out/x"));
    expect(ex("abspath('/abs')")).toBe("/abs");
  });
});

describe("file and templatefile", () => {
  it("file reads UTF-8 text relative to baseDir", () => {
    expect(ex("file('hello.txt')", s())).toBe("héllo\n");
    expect(ex(`file('${join(dir, "hello.txt")}')`, scope())).toBe("héllo\n");
    expect(ex("file('bom.txt')", s())).toBe("bom");
  });
  it("file explains what is wrong", () => {
    const e = caught(() => ev("${{ file('missing.txt') }}", s()));
    expect(e.code).toBe("KILN_EXPR_EVAL");
    expect(e.message).toMatch(/not found/);
    expect(e.hint).toContain(dir);
    expect(e.offset).toBe(9);
    expect(err("file('sub')").message).toMatch(/not a file/);
    expect(err("file('binary.bin')").message).toMatch(/UTF-8/);
    expect(err("file('big.txt')").message).toMatch(/limit/);
    expect(err("file('')").code).toBe("KILN_EXPR_EVAL");
  });
  it("templatefile renders with the map's keys as extra roots", () => {
    expect(ex("templatefile('user-data.tpl', { hostname = 'vm1', count = 1 })", s())).toBe(
      "host=vm1 v=24.04 n=2 ${{ raw }}",
    );
    expect(ex("templatefile('one.tpl', { count = 5 })", s())).toBe("5");
  });
  it("templatefile reports errors inside the file with its line and column", () => {
    const e = caught(() => ev("${{ templatefile('bad.tpl', {}) }}", s()));
    expect(e.code).toBe("KILN_EXPR_UNKNOWN_NAME");
    expect(e.message).toMatch(/bad\.tpl:2:7/);
    expect(e.offset).toBe(4);
    expect(caught(() => ex("templatefile('syntax.tpl', {})", s())).code).toBe("KILN_EXPR_SYNTAX");
    expect(err("templatefile('user-data.tpl', [])").code).toBe("KILN_EXPR_TYPE");
  });
  it("templatefile stops templates that include themselves", () => {
    const e = err("templatefile('loop.tpl', {})");
    expect(e.code).toBe("KILN_EXPR_EVAL");
    expect(e.message).toMatch(/nest/);
  });
  it("templatefile passes deferral through", () => {
    expect(ex("templatefile('later.tpl', {})", s())).toEqual(Symbol.for("kiln.expr.deferred"));
  });
});

describe("the function table", () => {
  it("has every documented function", () => {
    for (const f of [
      "lower",
      "upper",
      "replace",
      "split",
      "join",
      "trim",
      "trimspace",
      "format",
      "timestamp",
      "uuid",
      "file",
      "templatefile",
      "sha256",
      "base64encode",
      "base64decode",
      "coalesce",
      "length",
      "contains",
      "keys",
      "values",
      "lookup",
      "concat",
      "tostring",
      "tonumber",
      "tobool",
      "startswith",
      "endswith",
      "min",
      "max",
      "abs",
      "basename",
      "dirname",
      "abspath",
      "can",
      "regex_match",
    ]) {
      expect(FUNCTION_NAMES).toContain(f);
    }
  });
  it("reports unknown functions with the closest name", () => {
    const e = caught(() => ev("${{ lowr('A') }}"));
    expect(e.code).toBe("KILN_EXPR_UNKNOWN_FUNCTION");
    expect(e.hint).toBe('Did you mean "lower()"?');
    expect(e.offset).toBe(4);
    expect(e.length).toBe(4);
  });
  it("reports the wrong number of arguments", () => {
    const e = caught(() => ex("lower('a', 'b')"));
    expect(e.code).toBe("KILN_EXPR_TYPE");
    expect(e.hint).toBe("lower() takes 1 argument: lower(str).");
    expect(caught(() => ex("lookup({})")).hint).toBe(
      "lookup() takes 2 or 3 arguments: lookup(map, key, default).",
    );
    expect(caught(() => ex("concat()")).hint).toMatch(/at least 1 argument/);
    expect(caught(() => ex("uuid(1)")).hint).toBe("uuid() takes 0 arguments.");
  });
});
