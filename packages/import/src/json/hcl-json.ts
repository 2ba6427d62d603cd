/**
 * HCL in JSON syntax (`.pkr.json`): a block type's key holds its labels as nested keys and the
 * body (or a list of bodies) innermost; strings are templates (`"${var.x}"`), parsed as HCL.
 */
import type { Attribute, Block, Body, Expr, Item } from "../hcl/ast.js";
import { CstReader } from "../hcl/cst.js";
import { parseHcl } from "../hcl/parser.js";
import { ImportError, type Position } from "../report.js";
import { JsonFile, type JsonNode, plain, properties } from "./tree.js";

/** Labels per block type, and the block types each body may hold. */
const LABELS: Record<string, number> = {
  packer: 0,
  required_plugins: 0,
  variable: 1,
  locals: 0,
  local: 1,
  data: 2,
  source: 2,
  build: 0,
  provisioner: 1,
  "post-processor": 1,
  "post-processors": 0,
  "error-cleanup-provisioner": 1,
  hcp_packer_registry: 0,
  validation: 0,
  dynamic: 1,
  content: 0,
};
const BLOCKS: Record<string, readonly string[]> = {
  "": ["packer", "variable", "locals", "local", "data", "source", "build"],
  packer: ["required_plugins"],
  variable: ["validation"],
  build: [
    "source",
    "provisioner",
    "post-processor",
    "post-processors",
    "error-cleanup-provisioner",
    "hcp_packer_registry",
  ],
  "post-processors": ["post-processor"],
  source: ["dynamic"],
  data: ["dynamic"],
  provisioner: ["dynamic"],
  "post-processor": ["dynamic"],
  dynamic: ["content"],
};
/** Attributes whose string is an expression, not a template. */
const EXPRESSION_ATTRS: Record<string, readonly string[]> = { variable: ["type"], dynamic: ["iterator"] };

class Reader {
  constructor(
    private readonly f: JsonFile,
    private readonly exprs: Map<JsonNode, Expr>,
  ) {}

  body(node: JsonNode, ctxType: string): Body {
    const items: Item[] = [];
    const nested = BLOCKS[ctxType] ?? [];
    for (const p of properties(node)) {
      if (p.key === "//") continue;
      if (nested.includes(p.key)) items.push(...this.blocks(p.key, p.value, [], LABELS[p.key] ?? 0));
      else items.push(this.attribute(p.key, p.keyNode, p.value));
    }
    return { items, trailing: [] };
  }

  private blocks(type: string, node: JsonNode, labels: string[], want: number): Block[] {
    if (labels.length < want) {
      if (node.type === "array")
        return (node.children ?? []).flatMap((c) => this.blocks(type, c, labels, want));
      if (node.type !== "object") throw this.f.fail(node, `"${type}" needs ${want} label(s) as nested keys`);
      return properties(node).flatMap((p) => this.blocks(type, p.value, [...labels, p.key], want));
    }
    const bodies = node.type === "array" ? (node.children ?? []) : [node];
    return bodies.map((b) => {
      if (b.type !== "object") throw this.f.fail(b, `the body of "${type}" is a JSON object`);
      return {
        kind: "block",
        type,
        labels,
        body: this.body(b, type),
        pos: this.f.pos(b.offset),
        comments: { before: [] },
        raw: this.f.raw(b),
      } satisfies Block;
    });
  }

  private attribute(name: string, keyNode: JsonNode, value: JsonNode): Attribute {
    return {
      kind: "attribute",
      name,
      expr: this.value(value),
      pos: this.f.pos(keyNode.offset),
      comments: { before: [] },
      raw: this.f.raw(value),
    };
  }

  value(node: JsonNode): Expr {
    const pos = this.f.pos(node.offset);
    switch (node.type) {
      case "string":
        return this.exprs.get(node) ?? { t: "literal", value: String(node.value), pos };
      case "array":
        return {
          t: "tuple",
          items: (node.children ?? []).map((c) => ({ expr: this.value(c), comments: { before: [] } })),
          pos,
        };
      case "object":
        return {
          t: "object",
          entries: properties(node).map((p) => ({
            key: { t: "literal", value: p.key, pos: this.f.pos(p.keyNode.offset) },
            value: this.value(p.value),
            comments: { before: [] },
            pos: this.f.pos(p.keyNode.offset),
          })),
          pos,
        };
      default:
        return { t: "literal", value: (node.value ?? null) as string | number | boolean | null, pos };
    }
  }
}

/** Every string of the file that holds a template, with how to read it (template or expression). */
function strings(root: JsonNode): Array<{ node: JsonNode; expression: boolean }> {
  const out: Array<{ node: JsonNode; expression: boolean }> = [];
  const walk = (n: JsonNode, parentBlock: string, key: string | undefined) => {
    if (n.type === "string") {
      const s = String(n.value);
      const expression = key !== undefined && (EXPRESSION_ATTRS[parentBlock] ?? []).includes(key);
      if (expression || s.includes("${") || s.includes("%{")) out.push({ node: n, expression });
      return;
    }
    if (n.type === "array") for (const c of n.children ?? []) walk(c, parentBlock, key);
    if (n.type === "object")
      for (const p of properties(n)) {
        const isBlock = Object.hasOwn(LABELS, p.key);
        walk(p.value, isBlock ? p.key : parentBlock, p.key);
      }
  };
  walk(root, "", undefined);
  return out;
}

/** Parse the strings with the HCL parser, all in one file: `_N = <<MARK … MARK` or `_N = expr`. */
async function parseStrings(
  f: JsonFile,
  list: Array<{ node: JsonNode; expression: boolean }>,
): Promise<Map<JsonNode, Expr>> {
  const out = new Map<JsonNode, Expr>();
  if (list.length === 0) return out;
  let mark = "KILN_JSON_EOT";
  while (list.some((s) => String(s.node.value).includes(mark))) mark += "_";
  const lines = list.map((s, i) =>
    s.expression
      ? `_${i} = ${String(s.node.value)}\n`
      : `_${i} = <<${mark}\n${String(s.node.value)}\n${mark}\n`,
  );
  const text = lines.join("");
  let tree: Awaited<ReturnType<typeof parseHcl>>;
  try {
    tree = await parseHcl(text, f.file);
  } catch (err) {
    if (!(err instanceof ImportError) || !err.pos) throw err;
    // Point at the JSON string the problem is in.
    const line = err.pos.line;
    let at = 1;
    for (let i = 0; i < lines.length; i++) {
      const n = (lines[i] as string).split("\n").length - 1;
      if (line < at + n) {
        const pos: Position = f.pos((list[i] as { node: JsonNode }).node.offset);
        throw new ImportError(
          `${pos.file}:${pos.line}:${pos.column}: this string is not a valid HCL template`,
          pos,
        );
      }
      at += n;
    }
    throw err;
  }
  try {
    const body = new CstReader(text, f.file).readFile(tree.rootNode);
    for (const item of body.items) {
      if (item.kind !== "attribute") continue;
      const s = list[Number(item.name.slice(1))];
      if (!s) continue;
      let e = item.expr;
      const pos = f.pos(s.node.offset);
      e = relocate(e, pos);
      if (!s.expression && e.t === "template") {
        // The heredoc's last line break is not part of the string.
        const last = e.parts[e.parts.length - 1];
        if (last?.t === "text") {
          last.text = last.text.replace(/\n$/, "");
          if (last.text === "") e.parts.pop();
        }
        if (e.parts.length === 0) e = { t: "literal", value: "", pos };
      }
      out.set(s.node, e);
    }
  } finally {
    tree.delete();
  }
  return out;
}

/** Positions in the scratch text mean nothing: every node of a string's expression is at the string. */
function relocate(e: Expr, pos: Position): Expr {
  return JSON.parse(JSON.stringify(e), (k, v) => (k === "pos" ? pos : v)) as Expr;
}

export async function readHclJsonFile(text: string, file: string): Promise<Body> {
  const f = new JsonFile(text, file);
  const root = f.parse();
  const exprs = await parseStrings(f, strings(root));
  void plain;
  return new Reader(f, exprs).body(root, "");
}
