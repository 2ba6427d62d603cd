// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${` in plain strings is the syntax under test.
/** Packer's function library and HCL's `for` expressions, with the values Packer's docs give. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import bcryptjs from "bcryptjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkTemplate, references } from "./check.js";
import { FUNCTION_NAMES } from "./functions/index.js";
import { parseTemplate } from "./parse.js";
import { caught, ex, scope } from "./test-helpers.js";

let dir = "";
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "kiln-pkrtpl-"));
  writeFileSync(
    join(dir, "ud.pkrtpl.hcl"),
    "host=${hostname}\n%{ for u in users ~}\nuser ${u}\n%{ endfor ~}\n%{ if admin }admin%{ else }none%{ endif }\n$${literal} %%{literal}",
  );
  writeFileSync(join(dir, "map.pkrtpl"), "%{ for k, v in m }${k}=${v};%{ endfor }${upper(x)}");
  writeFileSync(join(dir, "bad.pkrtpl"), "line1\n${nope}");
  writeFileSync(join(dir, "open.pkrtpl"), "%{ if true }never closed");
  writeFileSync(join(dir, "kiln.tpl"), "a ${{ x }} ${b}");
  writeFileSync(join(dir, "a.sh"), "");
  writeFileSync(join(dir, "b.txt"), "");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const s = () => scope({ baseDir: dir });
const x = (src: string) => ex(src, s());
const err = (src: string) => caught(() => ex(src, s()));

describe("for expressions", () => {
  it("make lists and maps, with conditions, keys and grouping", () => {
    expect(x("[for s in var.list: upper(s)]")).toEqual(["A", "B", "C"]);
    expect(x("[for i, s in var.list: format('%d=%s', i, s)]")).toEqual(["0=a", "1=b", "2=c"]);
    expect(x("[for s in var.list: s if s != 'b']")).toEqual(["a", "c"]);
    expect(x("{for k, v in var.map: k => v}")).toEqual({ k: "v", n: 1 });
    expect(x("{for s in ['a', 'b', 'a']: s => 1...}")).toEqual({ a: [1, 1], b: [1] });
    expect(x("[for d in [{size = 10}, {size = 20}]: d.size * 2]")).toEqual([20, 40]);
    expect(x("[for l in [[1, 2], [3]]: [for n in l: n + 1]]")).toEqual([[2, 3], [4]]);
    expect(x("{for k, v in {b = 1, a = 2}: v => k}")).toEqual({ "1": "b", "2": "a" });
  });

  it("report their mistakes where they are", () => {
    expect(err("{for s in ['a', 'a']: s => 1}").message).toMatch(/Two items give the key "a"/);
    expect(err("[for s in 'abc': s]").message).toMatch(/iterates over a list or a map, got a string/);
    expect(err("[for s in var.list: s if 1]").code).toBe("KILN_EXPR_TYPE");
    expect(() => parseTemplate("${{ [for s in var.list s] }}")).toThrow(/Expected `:` after the collection/);
    expect(() => parseTemplate("${{ {for s in var.list: s} }}")).toThrow(/=>/);
  });

  it("bind names only inside, for the checks and the reference list", () => {
    const t = parseTemplate("${{ [for d in var.list: d if d != local.disk] }}");
    expect(checkTemplate(t, scope())).toEqual([]);
    expect(references(t).map((r) => `${r.root}.${r.member}`)).toEqual(["var.list", "local.disk"]);
    const bad = checkTemplate(parseTemplate("${{ [for d in var.list: e] }}"), scope());
    expect(bad.map((e) => e.message)).toEqual(['Unknown name "e".']);
    // outside the for, the name is unknown again
    expect(checkTemplate(parseTemplate("${{ concat([for d in var.list: d], [d]) }}"), scope())).toHaveLength(
      1,
    );
  });
});

describe("HCL interpolation in double-quoted strings", () => {
  it('"qemu-system-${var.x}" interpolates; $${ is a literal ${; single quotes stay literal', () => {
    expect(x('"qemu-system-${var.name}"')).toBe("qemu-system-ubuntu");
    expect(x('"${var.n + 1}-${upper("x${var.name}")}"')).toBe("4-XUBUNTU");
    expect(x('"$${literal}"')).toBe("${literal}");
    expect(x("'${var.name}'")).toBe("${var.name}");
    expect(
      references(parseTemplate('${{ "a-${var.version}" }}')).map((r) => `${r.root}.${r.member}`),
    ).toEqual(["var.version"]);
    expect(checkTemplate(parseTemplate('${{ "a-${var.nope}" }}'), scope()).map((e) => e.message)).toEqual([
      '"var.nope" is not declared.',
    ]);
    expect(() => parseTemplate('${{ "a-${var.name" }}')).toThrow();
  });
});

describe("Packer's functions", () => {
  it("strings", () => {
    expect(x("chomp('hello\\n\\r\\n')")).toBe("hello");
    expect(x("substr('hello world', 1, 4)")).toBe("ello");
    expect(x("substr('hello world', -5, -1)")).toBe("world");
    expect(x("trimprefix('helloworld', 'hello')")).toBe("world");
    expect(x("trimsuffix('helloworld', 'world')")).toBe("hello");
    expect(x("indent(2, '[\\n  foo,\\n]\\n')")).toBe("[\n    foo,\n  ]\n  ");
    expect(x("title('hello world')")).toBe("Hello World");
    expect(x("strrev('hello')")).toBe("olleh");
    expect(x("strcontains('hello', 'ell')")).toBe(true);
    expect(x("formatlist('Hello, %s!', ['Valentina', 'Ander'])")).toEqual([
      "Hello, Valentina!",
      "Hello, Ander!",
    ]);
    expect(x("formatlist('%s, %s!', 'Salutations', ['Valentina', 'Ander'])")).toEqual([
      "Salutations, Valentina!",
      "Salutations, Ander!",
    ]);
  });

  it("format's verbs, flags, width and precision", () => {
    expect(x("format('%t', true)")).toBe("true");
    expect(x("format('%5.2f|', 3.14159)")).toBe(" 3.14|");
    expect(x("format('%-5s|', 'ab')")).toBe("ab   |");
    expect(x("format('%03d %+d', 7, 7)")).toBe("007 +7");
    expect(x("format('%x %X %o %b %#x', 255, 255, 8, 5, 255)")).toBe("ff FF 10 101 0xff");
    expect(x("format('%[2]s %[1]s', 'a', 'b')")).toBe("b a");
    expect(x("format('%e', 1234.5678)")).toBe("1.234568e+03");
    expect(x("format('%g %g', 1000000, 0.5)")).toBe("1e+06 0.5");
    expect(x("format('%.3s', 'abcdef')")).toBe("abc");
    expect(err("format('%t', 1)").code).toBe("KILN_EXPR_TYPE");
  });

  it("regex and regexall", () => {
    expect(x("regex('[a-z]+', '53453453.345345aaabbbccc23454')")).toBe("aaabbbccc");
    expect(x("regex('(\\\\d\\\\d\\\\d\\\\d)-(\\\\d\\\\d)-(\\\\d\\\\d)', '2019-02-01')")).toEqual([
      "2019",
      "02",
      "01",
    ]);
    expect(
      x("regex('^(?:(?P<scheme>[^:/?#]+):)?(?://(?P<authority>[^/?#]*))?', 'https://terraform.io/docs/')"),
    ).toEqual({
      scheme: "https",
      authority: "terraform.io",
    });
    expect(x("regexall('[a-z]+', '1234abcd5678efgh9')")).toEqual(["abcd", "efgh"]);
    expect(x("length(regexall('[a-z]+', '1234'))")).toBe(0);
    expect(err("regex('[a-z]+', '1234')").message).toMatch(/does not match/);
    expect(x("regex_replace('a1b2', '[0-9]', '#')")).toBe("a#b#");
  });

  it("collections", () => {
    expect(x("alltrue(['true', true])")).toBe(true);
    expect(x("alltrue([true, false])")).toBe(false);
    expect(x("anytrue([])")).toBe(false);
    expect(x("merge({a = 'b', c = 'd'}, {e = 'f', c = 'z'})")).toEqual({ a: "b", c: "z", e: "f" });
    expect(x("flatten([['a', 'b'], [], [['c']]])")).toEqual(["a", "b", "c"]);
    expect(x("compact(['a', '', 'b', null, 'c'])")).toEqual(["a", "b", "c"]);
    expect(x("zipmap(['a', 'b'], [1, 2])")).toEqual({ a: 1, b: 2 });
    expect(x("distinct(['a', 'b', 'a', 'c', 'd', 'b'])")).toEqual(["a", "b", "c", "d"]);
    expect(x("element(['a', 'b', 'c'], 3)")).toBe("a");
    expect(x("index(['a', 'b', 'c'], 'b')")).toBe(1);
    expect(x("range(3)")).toEqual([0, 1, 2]);
    expect(x("range(1, 8, 2)")).toEqual([1, 3, 5, 7]);
    expect(x("range(4, 1)")).toEqual([4, 3, 2]);
    expect(err("range(100000)").message).toMatch(/limit is 10000/);
    expect(x("chunklist(['a', 'b', 'c', 'd', 'e'], 2)")).toEqual([["a", "b"], ["c", "d"], ["e"]]);
    expect(x("reverse([1, 2, 3])")).toEqual([3, 2, 1]);
    expect(x("slice(['a', 'b', 'c', 'd'], 1, 3)")).toEqual(["b", "c"]);
    expect(x("sort(['e', 'd', 'a', 'x'])")).toEqual(["a", "d", "e", "x"]);
    expect(x("sum([10, 13, 6, 4.5])")).toBe(33.5);
    expect(x("one([])")).toBe(null);
    expect(x("coalescelist([], ['x'])")).toEqual(["x"]);
    expect(x("transpose({a = ['1', '2'], b = ['2', '3']})")).toEqual({
      "1": ["a"],
      "2": ["a", "b"],
      "3": ["b"],
    });
    expect(x("setunion(['a', 'b'], ['b', 'c'])")).toEqual(["a", "b", "c"]);
    expect(x("setintersection(['a', 'b'], ['b', 'c'])")).toEqual(["b"]);
    expect(x("setproduct(['a', 'b'], [1])")).toEqual([
      ["a", 1],
      ["b", 1],
    ]);
  });

  it("numbers", () => {
    expect(x("[ceil(5.1), floor(4.9), log(16, 2), pow(3, 2), signum(-13)]")).toEqual([6, 4, 4, 9, -1]);
    expect(x("[parseint('100', 10), parseint('FF', 16), parseint('-10', 16), parseint('aA', 62)]")).toEqual([
      100, 255, -16, 656,
    ]);
    expect(err("parseint('12', 2)").message).toMatch(/not a number in base 2/);
  });

  it("encodings", () => {
    expect(x("jsondecode('{\"hello\": [1, true]}')")).toEqual({ hello: [1, true] });
    expect(x("yamldecode('a: [1, b]')")).toEqual({ a: [1, "b"] });
    expect(x("yamlencode({a = 'b', l = [1]})")).toBe("a: b\nl:\n  - 1\n");
    expect(x("urlencode('Hello World!')")).toBe("Hello+World%21");
    expect(x("urlencode('foo:bar@localhost?foo=bar&bar=baz')")).toBe(
      "foo%3Abar%40localhost%3Ffoo%3Dbar%26bar%3Dbaz",
    );
    expect(x("csvdecode('a,b\\n1,\"x,y\"\\n')")).toEqual([{ a: "1", b: "x,y" }]);
    expect(err("jsondecode('{')").message).toMatch(/not JSON/);
    expect(err("yamldecode('a: [')").message).toMatch(/not YAML/);
  });

  it("hashes and ids", () => {
    expect(x("md5('hello world')")).toBe("5eb63bbbe01eeed093cb22bb8f5acdc3");
    expect(x("sha1('hello world')")).toBe("2aae6c35c94fcfb415dbe95f408b9ce91ee846ed");
    expect(String(x("sha512('')")).slice(0, 16)).toBe("cf83e1357eefb8bd");
    expect(x("uuidv5('dns', 'www.terraform.io')")).toBe("a5008fae-b28c-5ba5-96cd-82b4c53552d6");
    expect(x("uuidv5('url', 'https://www.terraform.io/')")).toBe("9db6f67c-dd95-5ea0-aa5b-e70e5c5f7cf5");
    expect(String(x("uuidv4()"))).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-/);
    const hash = String(x("bcrypt('hunter2', 4)"));
    expect(hash).toMatch(/^\$2[ab]\$04\$/);
    expect(bcryptjs.compareSync("hunter2", hash)).toBe(true);
  });

  it("dates", () => {
    expect(x("formatdate('DD MMM YYYY hh:mm ZZZ', '2018-01-02T23:12:01Z')")).toBe("02 Jan 2018 23:12 UTC");
    expect(x("formatdate('EEEE, DD-MMM-YY hh:mm:ss ZZZ', '2018-01-02T23:12:01Z')")).toBe(
      "Tuesday, 02-Jan-18 23:12:01 UTC",
    );
    expect(x("formatdate('EEE, DD MMM YYYY hh:mm:ss ZZZ', '2018-01-02T23:12:01-08:00')")).toBe(
      "Tue, 02 Jan 2018 23:12:01 -0800",
    );
    expect(x("formatdate('HH:mmaa', '2018-01-02T23:12:01Z')")).toBe("11:12pm");
    expect(x("formatdate(\"h'h'mm\", '2018-01-02T23:12:01-08:00')")).toBe("23h12");
    expect(x("formatdate('YYYYMMDD', timestamp())")).toBe("20260102");
    expect(x("timeadd('2017-11-22T00:00:00Z', '10m')")).toBe("2017-11-22T00:10:00Z");
    expect(x("timeadd('2017-11-22T00:00:00+01:00', '-1h')")).toBe("2017-11-21T23:00:00+01:00");
    expect(err("formatdate('YYYY-QQ', '2018-01-02T23:12:01Z')").message).toMatch(
      /"QQ" is not a date\/time field/,
    );
    expect(err("formatdate('YYYY', 'yesterday')").message).toMatch(/not an RFC 3339 timestamp/);
  });

  it("networks", () => {
    expect(x("cidrhost('10.12.112.0/20', 16)")).toBe("10.12.112.16");
    expect(x("cidrhost('10.12.112.0/20', 268)")).toBe("10.12.113.12");
    expect(x("cidrhost('10.0.0.0/24', -2)")).toBe("10.0.0.254");
    expect(x("cidrhost('fd00:fd12:3456:7890:00a2::/72', 34)")).toBe("fd00:fd12:3456:7890::22");
    expect(x("cidrsubnet('172.16.0.0/12', 4, 2)")).toBe("172.18.0.0/16");
    expect(x("cidrsubnet('10.1.2.0/24', 4, 15)")).toBe("10.1.2.240/28");
    expect(x("cidrsubnet('fd00:fd12:3456:7890::/56', 16, 162)")).toBe("fd00:fd12:3456:7800:a200::/72");
    expect(x("cidrnetmask('172.16.0.0/12')")).toBe("255.240.0.0");
    expect(x("cidrsubnets('10.1.0.0/16', 4, 4, 8, 4)")).toEqual([
      "10.1.0.0/20",
      "10.1.16.0/20",
      "10.1.32.0/24",
      "10.1.48.0/20",
    ]);
    expect(err("cidrhost('10.0.0.0/30', 4)").message).toMatch(/not in 10.0.0.0\/30/);
  });

  it("conversions, try, env and files", () => {
    expect(x("toset(['a', 'b', 'a'])")).toEqual(["a", "b"]);
    expect(x("tomap({a = 1})")).toEqual({ a: 1 });
    expect(x("tolist(['a'])")).toEqual(["a"]);
    expect(x("try(tonumber('x'), var.map['zz'], 'fallback')")).toBe("fallback");
    expect(x("try(var.map.k, 'fallback')")).toBe("v");
    expect(err("try(tonumber('x'))").message).toMatch(/no argument evaluates/);
    expect(x("pathexpand('~/.ssh/id_rsa')")).toBe(join(homedir(), ".ssh/id_rsa"));
    expect(x("fileexists('a.sh')")).toBe(true);
    expect(x("fileexists('nope.sh')")).toBe(false);
    expect(x("fileset('.', '*.{sh,txt}')")).toEqual(["a.sh", "b.txt"]);
  });

  it("the README's table lists every function", async () => {
    const { readFileSync } = await import("node:fs");
    const readme = readFileSync(new URL("./README.md", import.meta.url), "utf8");
    for (const name of FUNCTION_NAMES) expect(readme, name).toContain(`\`${name}(`);
  });
});

describe("templatefile of Packer template files", () => {
  it("renders *.pkrtpl(.hcl) with ${…}, %{ if }, %{ for }, strip markers and escapes", () => {
    expect(x("templatefile('ud.pkrtpl.hcl', {hostname = 'h', users = ['a', 'b'], admin = true})")).toBe(
      "host=h\nuser a\nuser b\nadmin\n${literal} %{literal}",
    );
    expect(x("templatefile('map.pkrtpl', {m = {b = 2, a = 1}, x = 'y'})")).toBe("a=1;b=2;Y");
  });

  it("renders other files with kiln's ${{ }} (a lone ${ stays text)", () => {
    expect(x("templatefile('kiln.tpl', {x = 1})")).toBe("a 1 ${b}");
  });

  it("points at the line and column in the template file", () => {
    const e = err("templatefile('bad.pkrtpl', {})");
    expect(e.message).toMatch(/bad\.pkrtpl:2:3: Unknown name "nope"/);
    expect(err("templatefile('open.pkrtpl', {})").message).toMatch(/has no `%\{ endif \}`/);
  });
});
