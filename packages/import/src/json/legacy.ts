/**
 * A legacy JSON template (`builders`, `provisioners`, `post-processors`, `variables`) as the HCL
 * blocks Packer's own `hcl2_upgrade` would write: a `variable` per variable (`null` is a variable
 * without default: required), a `source` per builder (named by its `name`, else its type), and one
 * `build` with the provisioners and post-processors in order. Strings keep their Go templates; the
 * translator turns `{{user `x`}}` and friends into kiln expressions. `_comment` keys are comments.
 */
import type { Attribute, Block, Body, Comments, Expr, Item } from "../hcl/ast.js";
import { JsonFile, type JsonNode, properties } from "./tree.js";

type JF = JsonFile;

const noComments = (): Comments => ({ before: [] });

/** `_comment`-style keys (Packer ignores keys starting with `_`): their text as comment lines. */
function commentLines(key: string, value: JsonNode): string[] {
  const text = value.type === "string" ? String(value.value) : JSON.stringify(value.value ?? null);
  const lines = text.split("\n").map((l) => ` ${l}`);
  return key === "_comment" ? lines : [` ${key.slice(1)}: ${lines.join(" ").trim()}`];
}

function expr(f: JF, node: JsonNode): Expr {
  const pos = f.pos(node.offset);
  switch (node.type) {
    case "string":
      return { t: "template", parts: [{ t: "text", text: String(node.value) }], pos };
    case "number":
    case "boolean":
      return { t: "literal", value: node.value as number | boolean, pos };
    case "null":
      return { t: "literal", value: null, pos };
    case "array":
      return {
        t: "tuple",
        items: (node.children ?? []).map((c) => ({ expr: expr(f, c), comments: noComments() })),
        pos,
      };
    case "object": {
      const entries = [];
      let pending: string[] = [];
      for (const p of properties(node)) {
        if (p.key.startsWith("_")) {
          pending.push(...commentLines(p.key, p.value));
          continue;
        }
        entries.push({
          key: { t: "literal", value: p.key, pos: f.pos(p.keyNode.offset) } as Expr,
          value: expr(f, p.value),
          comments: { before: pending },
          pos: f.pos(p.keyNode.offset),
        });
        pending = [];
      }
      return { t: "object", entries, pos };
    }
    default:
      return { t: "literal", value: null, pos };
  }
}

function attribute(f: JF, key: string, keyNode: JsonNode, value: JsonNode, before: string[]): Attribute {
  return {
    kind: "attribute",
    name: key,
    expr: expr(f, value),
    pos: f.pos(keyNode.offset),
    comments: { before },
    raw: f.raw(value),
  };
}

/** A JSON object's keys as attributes (skipping `skip`), `_…` keys as comments on the next one. */
function bodyOf(f: JF, node: JsonNode, skip: ReadonlySet<string> = new Set()): Body {
  const items: Item[] = [];
  let pending: string[] = [];
  for (const p of properties(node)) {
    if (p.key.startsWith("_")) {
      pending.push(...commentLines(p.key, p.value));
      continue;
    }
    if (skip.has(p.key)) continue;
    items.push(attribute(f, p.key, p.keyNode, p.value, pending));
    pending = [];
  }
  return { items, trailing: pending };
}

function block(
  f: JF,
  type: string,
  labels: string[],
  node: JsonNode,
  body: Body,
  before: string[] = [],
): Block {
  return {
    kind: "block",
    type,
    labels,
    body,
    pos: f.pos(node.offset),
    comments: { before },
    raw: f.raw(node),
  };
}

const str = (n: JsonNode | undefined): string | undefined =>
  n?.type === "string" ? String(n.value) : undefined;
const field = (node: JsonNode, key: string) => properties(node).find((p) => p.key === key)?.value;

/** A provisioner or post-processor object → its block. */
function step(f: JF, kind: "provisioner" | "post-processor", node: JsonNode): Block {
  if (node.type === "string") {
    return block(f, kind, [String(node.value)], node, { items: [], trailing: [] });
  }
  if (node.type !== "object") throw f.fail(node, `a ${kind} is a JSON object`);
  const type = str(field(node, "type"));
  if (!type) throw f.fail(node, `this ${kind} has no "type"`);
  return block(f, kind, [type], node, bodyOf(f, node, new Set(["type"])));
}

export async function readLegacyJsonFile(text: string, file: string): Promise<Body> {
  const f = new JsonFile(text, file);
  const root = f.parse();
  return legacyBody(f, root);
}

export function legacyBody(f: JsonFile, root: JsonNode): Body {
  const items: Item[] = [];
  const header: string[] = [];
  const rootPos = f.pos(root.offset);
  const sensitive = new Set<string>();
  const sv = field(root, "sensitive-variables");
  for (const c of sv?.children ?? []) if (c.type === "string") sensitive.add(String(c.value));

  for (const p of properties(root)) {
    if (p.key.startsWith("_")) header.push(...commentLines(p.key, p.value));
    else if (p.key === "description" && p.value.type === "string")
      header.push(
        ...String(p.value.value)
          .split("\n")
          .map((l) => ` ${l}`),
      );
  }

  // variables
  const vars = field(root, "variables");
  for (const p of properties(vars ?? ({} as JsonNode))) {
    if (p.key.startsWith("_")) continue;
    const attrs: Item[] = [];
    const pos = f.pos(p.keyNode.offset);
    if (p.value.type !== "null") {
      const s = str(p.value);
      const env = s === undefined ? undefined : /^\{\{\s*env\s+[`"]([^`"]+)[`"]\s*\}\}$/.exec(s);
      const e: Expr = env
        ? {
            t: "call",
            name: "env",
            args: [{ t: "literal", value: env[1] as string, pos }],
            expand: false,
            pos,
          }
        : expr(f, p.value);
      attrs.push({
        kind: "attribute",
        name: "default",
        expr: e,
        pos: f.pos(p.value.offset),
        comments: noComments(),
        raw: f.raw(p.value),
      });
    }
    if (sensitive.has(p.key))
      attrs.push({
        kind: "attribute",
        name: "sensitive",
        expr: { t: "literal", value: true, pos },
        pos,
        comments: noComments(),
        raw: "true",
      });
    if (p.value.type !== "string" && p.value.type !== "null") {
      const type =
        p.value.type === "array"
          ? "list"
          : p.value.type === "object"
            ? "map"
            : p.value.type === "boolean"
              ? "bool"
              : p.value.type;
      attrs.push({
        kind: "attribute",
        name: "type",
        expr: { t: "name", name: type, pos },
        pos,
        comments: noComments(),
        raw: type,
      });
    } else
      attrs.push({
        kind: "attribute",
        name: "type",
        expr: { t: "name", name: "string", pos },
        pos,
        comments: noComments(),
        raw: "string",
      });
    items.push(block(f, "variable", [p.key], p.value, { items: attrs, trailing: [] }));
  }

  // builders → sources
  const sourceRefs: string[] = [];
  for (const b of field(root, "builders")?.children ?? []) {
    if (b.type !== "object") throw f.fail(b, "a builder is a JSON object");
    const type = str(field(b, "type"));
    if (!type) throw f.fail(b, 'this builder has no "type"');
    const name = str(field(b, "name")) ?? type;
    sourceRefs.push(`source.${type}.${name}`);
    items.push(block(f, "source", [type, name], b, bodyOf(f, b, new Set(["type", "name"]))));
  }

  // one build: the sources, the provisioners and post-processors in order
  const buildItems: Item[] = [
    {
      kind: "attribute",
      name: "sources",
      expr: {
        t: "tuple",
        items: sourceRefs.map((r) => ({
          expr: { t: "literal", value: r, pos: rootPos } as Expr,
          comments: noComments(),
        })),
        pos: rootPos,
      },
      pos: rootPos,
      comments: noComments(),
      raw: JSON.stringify(sourceRefs),
    },
  ];
  for (const p of field(root, "provisioners")?.children ?? []) buildItems.push(step(f, "provisioner", p));
  const cleanup = field(root, "error-cleanup-provisioner");
  if (cleanup) buildItems.push({ ...step(f, "provisioner", cleanup), type: "error-cleanup-provisioner" });
  for (const p of field(root, "post-processors")?.children ?? []) {
    if (p.type === "array") {
      const chain = (p.children ?? []).map((c) => step(f, "post-processor", c));
      buildItems.push(block(f, "post-processors", [], p, { items: chain, trailing: [] }));
    } else buildItems.push(step(f, "post-processor", p));
  }
  const parts = ["provisioners", "post-processors"].map(
    (k) => properties(root).find((p) => p.key === k)?.value,
  );
  const raw = parts
    .filter((n): n is JsonNode => n !== undefined)
    .map((n) => f.raw(n))
    .join(",\n");
  if (sourceRefs.length > 0)
    items.push({
      kind: "block",
      type: "build",
      labels: [],
      body: { items: buildItems, trailing: [] },
      pos: rootPos,
      comments: noComments(),
      raw,
    });

  for (const p of properties(root)) {
    if (
      [
        "variables",
        "sensitive-variables",
        "builders",
        "provisioners",
        "post-processors",
        "error-cleanup-provisioner",
        "description",
      ].includes(p.key) ||
      p.key.startsWith("_")
    )
      continue;
    items.push({
      kind: "attribute",
      name: p.key,
      expr: expr(f, p.value),
      pos: f.pos(p.keyNode.offset),
      comments: noComments(),
      raw: f.raw(p.value),
    });
  }
  const first = items[0];
  if (first && header.length)
    first.comments = { ...first.comments, before: [...header, ...first.comments.before] };
  return { items, trailing: first ? [] : header };
}
