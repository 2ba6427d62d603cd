// biome-ignore-all lint/suspicious/noTemplateCurlyInString: HCL's `${…}` in plain strings is what is parsed.
/** The HCL front end: tree-sitter's tree → blocks in order, positions, comments, templates; syntax errors refused. */
import { describe, expect, it } from "vitest";
import { ImportError } from "../report.js";
import type { Attribute, Block, Expr } from "./ast.js";
import { readHclFile } from "./read.js";

const read = (text: string) => readHclFile(text, "t.pkr.hcl");
const attr = (b: { items: unknown[] }, i: number) => b.items[i] as Attribute;

async function fail(text: string): Promise<ImportError> {
  try {
    await read(text);
  } catch (err) {
    if (err instanceof ImportError) return err;
    throw err;
  }
  throw new Error("expected an ImportError");
}

describe("blocks and attributes", () => {
  it("keeps the order of blocks of every type, with labels and positions", async () => {
    const body = await read(
      'build {\n  provisioner "shell" {}\n  provisioner "powershell" {}\n  post-processor "manifest" {}\n  provisioner "windows-restart" {}\n}\n',
    );
    const build = body.items[0] as Block;
    expect(build.pos).toEqual({ file: "t.pkr.hcl", line: 1, column: 1 });
    expect(build.body.items.map((i) => `${(i as Block).type}:${(i as Block).labels.join(",")}`)).toEqual([
      "provisioner:shell",
      "provisioner:powershell",
      "post-processor:manifest",
      "provisioner:windows-restart",
    ]);
    expect((build.body.items[3] as Block).pos).toMatchObject({ line: 5, column: 3 });
  });

  it("comments above an item, after it on its line, and at the end of a body", async () => {
    const body = await read(
      '# file\n// about x\nx = 1 # one\n/* block\n   comment */\nsource "qemu" "a" { # opens\n  y = [\n    # first\n    "a",\n    "b", # second\n  ]\n  # last in body\n}\n',
    );
    expect(attr(body, 0).comments).toEqual({ before: [" file", " about x"], after: " one" });
    const src = body.items[1] as Block;
    expect(src.comments.before).toEqual([" block", "   comment"]);
    const y = attr(src.body, 0);
    expect(y.comments.before).toEqual([" opens"]);
    const items = (y.expr as Extract<Expr, { t: "tuple" }>).items;
    expect(items[0]?.comments.before).toEqual([" first"]);
    expect(items[1]?.comments.after).toEqual(" second");
    expect(src.body.trailing).toEqual([" last in body"]);
  });

  it("the item's text as written, for commented blocks", async () => {
    const body = await read('source "vmware-iso" "v" {\n    a = 1\n    b = "x"\n  }\n');
    expect((body.items[0] as Block).raw).toBe('source "vmware-iso" "v" {\n    a = 1\n    b = "x"\n  }');
  });
});

describe("expressions and templates", () => {
  const expr = async (src: string): Promise<Expr> => attr(await read(`x = ${src}\n`), 0).expr;

  it("string escapes, $${ and %%{, \\u escapes", async () => {
    expect(await expr('"a\\n\\"b\\" $${c} %%{d} \\u00e9"')).toMatchObject({
      t: "literal",
      value: 'a\n"b" ${c} %{d} é',
    });
  });

  it("text around interpolations keeps its spaces (cut from the source)", async () => {
    const e = await expr('"  a ${var.x}  b  "');
    expect(e).toMatchObject({
      t: "template",
      parts: [{ t: "text", text: "  a " }, { t: "interp" }, { t: "text", text: "  b  " }],
    });
  });

  it("heredocs, and <<- removes the smallest indentation (directives too)", async () => {
    const plain = await expr("<<EOF\n  one\n# not a comment\nEOF\n");
    expect(plain).toMatchObject({ t: "template", parts: [{ t: "text", text: "  one\n# not a comment\n" }] });
    const indented = await expr("<<-EOT\n    a ${x}\n      b\n    %{ if c }d%{ endif }\n  EOT\n");
    expect(indented).toMatchObject({
      t: "template",
      parts: [
        { t: "text", text: "a " },
        { t: "interp" },
        { t: "text", text: "\n  b\n" },
        { t: "if", then: [{ t: "text", text: "d" }] },
        { t: "text", text: "\n" },
      ],
    });
  });

  it("directives with strip markers, for with key and value", async () => {
    const e = await expr('"%{ for k, v in m ~}${k}=${v} %{~ endfor }"');
    expect(e).toMatchObject({
      t: "template",
      parts: [
        {
          t: "for",
          keyVar: "k",
          valueVar: "v",
          stripAfter: true,
          body: [{ t: "interp" }, { t: "text" }, { t: "interp" }, { t: "text", text: " " }],
        },
      ],
    });
  });

  it("operators keep their precedence; parentheses are kept", async () => {
    const e = await expr("a + b * c == d && !(e || f)");
    expect(e).toMatchObject({
      t: "binary",
      op: "&&",
      left: { t: "binary", op: "==", left: { t: "binary", op: "+", right: { t: "binary", op: "*" } } },
      right: { t: "unary", op: "!", operand: { t: "paren", inner: { t: "binary", op: "||" } } },
    });
  });

  it("accessors: attributes, indexes, legacy .0, splats; calls with ...; for; conditionals", async () => {
    expect(await expr("var.d.0.size[1]")).toMatchObject({
      t: "index",
      object: { t: "attr", name: "size", object: { t: "index", index: { value: 0 } } },
    });
    expect(await expr("var.d[*].size")).toMatchObject({ t: "splat", rest: [{ attr: "size" }] });
    expect(await expr("concat(a, b...)")).toMatchObject({ t: "call", name: "concat", expand: true });
    expect(await expr("{ for k, v in m : k => v... if v != null }")).toMatchObject({
      t: "for",
      kind: "object",
      keyVar: "k",
      group: true,
      cond: { t: "binary", op: "!=" },
    });
    expect(await expr("c ? 1 : 2")).toMatchObject({ t: "conditional" });
    expect(await expr('{ a = 1, "b c" : 2, (k) = 3 }')).toMatchObject({
      t: "object",
      entries: [{ key: { t: "name" } }, { key: { t: "literal" } }, { key: { t: "paren" } }],
    });
  });
});

describe("syntax errors", () => {
  it("an ERROR node is refused with file:line:col", async () => {
    const e = await fail('source "qemu" "a" {\n  memory = 1024\n  cpus = = 2\n}\n');
    expect(e.message).toMatch(/^t\.pkr\.hcl:3:\d+: syntax error/);
    expect(e.pos?.line).toBe(3);
    expect(e.extra.hint).toMatch(/packer validate/);
  });

  it("a MISSING node (an unclosed block) is refused too", async () => {
    const e = await fail('build {\n  provisioner "shell" {\n    inline = ["x"]\n');
    expect(e.message).toMatch(/^t\.pkr\.hcl:\d+:\d+: syntax error/);
  });
});

describe("conditionals", () => {
  it("a ? b : c ? d : e is a ? b : (c ? d : e), as in HCL (the grammar nests it the other way)", async () => {
    const body = await readHclFile("x = a ? b : c ? d : e ? f : g\ny = (a ? b : c) ? d : e\n", "t.pkr.hcl");
    expect((body.items[0] as Attribute).expr).toMatchObject({
      t: "conditional",
      test: { t: "name", name: "a" },
      else: { t: "conditional", test: { name: "c" }, else: { t: "conditional", test: { name: "e" } } },
    });
    expect((body.items[1] as Attribute).expr).toMatchObject({ t: "conditional", test: { t: "paren" } });
  });
});
