/**
 * HCL as the importer sees it: bodies of attributes and blocks in source order, expressions as a
 * small tree, each with its position and the comments written above it (or after it on its line).
 * Both front ends produce it: the HCL parser, and the JSON readers (legacy templates, .pkr.json).
 */
import type { Position } from "../report.js";

export interface Comments {
  /** Comment lines above the item, each without its `#`, `//` or `/* *\/` marker. */
  before: string[];
  /** A comment after the item on its last line. */
  after?: string;
}

export interface Attribute {
  kind: "attribute";
  name: string;
  expr: Expr;
  pos: Position;
  comments: Comments;
  /** The item as written, for a commented block. */
  raw: string;
}

export interface Block {
  kind: "block";
  type: string;
  labels: string[];
  body: Body;
  pos: Position;
  comments: Comments;
  raw: string;
}

export type Item = Attribute | Block;

export interface Body {
  items: Item[];
  /** Comments after the last item of the body, before its closing brace. */
  trailing: string[];
}

export type TemplatePart =
  | { t: "text"; text: string }
  | { t: "interp"; expr: Expr; stripBefore: boolean; stripAfter: boolean }
  | {
      t: "if";
      cond: Expr;
      then: TemplatePart[];
      else?: TemplatePart[];
      stripBefore: boolean;
      stripAfter: boolean;
    }
  | {
      t: "for";
      keyVar?: string;
      valueVar: string;
      collection: Expr;
      body: TemplatePart[];
      stripBefore: boolean;
      stripAfter: boolean;
    };

export interface ObjectEntry {
  /** The key: a bare name (`a = 1`) or any expression (`"a b" = 1`, `(var.k) = 1`). */
  key: Expr;
  value: Expr;
  comments: Comments;
  pos: Position;
}

export type Expr =
  | { t: "literal"; value: string | number | boolean | null; pos: Position }
  | { t: "template"; parts: TemplatePart[]; pos: Position }
  | { t: "tuple"; items: Array<{ expr: Expr; comments: Comments }>; pos: Position }
  | { t: "object"; entries: ObjectEntry[]; pos: Position }
  | { t: "name"; name: string; pos: Position }
  | { t: "attr"; object: Expr; name: string; pos: Position }
  | { t: "index"; object: Expr; index: Expr; pos: Position }
  /** `list[*].a.b` / `list.*.a`: `rest` is applied to each element. */
  | { t: "splat"; object: Expr; rest: Array<{ attr: string } | { index: Expr }>; pos: Position }
  | { t: "call"; name: string; args: Expr[]; expand: boolean; pos: Position }
  | {
      t: "for";
      kind: "tuple" | "object";
      keyVar?: string;
      valueVar: string;
      collection: Expr;
      key?: Expr;
      value: Expr;
      group: boolean;
      cond?: Expr;
      pos: Position;
    }
  | { t: "unary"; op: "!" | "-"; operand: Expr; pos: Position }
  | { t: "binary"; op: string; left: Expr; right: Expr; pos: Position }
  | { t: "conditional"; test: Expr; then: Expr; else: Expr; pos: Position }
  | { t: "paren"; inner: Expr; pos: Position };

export const noComments = (): Comments => ({ before: [] });

/** The attribute named `name` of a body, if any (the last one wins, as duplicates are errors in HCL). */
export function attribute(body: Body, name: string): Attribute | undefined {
  let found: Attribute | undefined;
  for (const item of body.items) if (item.kind === "attribute" && item.name === name) found = item;
  return found;
}

export function blocks(body: Body, type: string): Block[] {
  return body.items.filter((i): i is Block => i.kind === "block" && i.type === type);
}

/** A literal string, or a template with nothing but text, as a string; else undefined. */
export function staticString(e: Expr | undefined): string | undefined {
  if (!e) return undefined;
  if (e.t === "literal" && typeof e.value === "string") return e.value;
  if (e.t === "template" && e.parts.every((p) => p.t === "text"))
    return e.parts.map((p) => (p as { text: string }).text).join("");
  return undefined;
}

/** A value without references (literals, and lists/maps of them), as plain data; else undefined. */
export function staticValue(e: Expr): { value: unknown } | undefined {
  switch (e.t) {
    case "literal":
      return { value: e.value };
    case "template": {
      const s = staticString(e);
      return s === undefined ? undefined : { value: s };
    }
    case "paren":
      return staticValue(e.inner);
    case "unary":
      if (e.op === "-" && e.operand.t === "literal" && typeof e.operand.value === "number")
        return { value: -e.operand.value };
      return undefined;
    case "tuple": {
      const out: unknown[] = [];
      for (const item of e.items) {
        const v = staticValue(item.expr);
        if (!v) return undefined;
        out.push(v.value);
      }
      return { value: out };
    }
    case "object": {
      const out: Record<string, unknown> = {};
      for (const entry of e.entries) {
        const k = objectKey(entry.key);
        const v = staticValue(entry.value);
        if (k === undefined || !v) return undefined;
        out[k] = v.value;
      }
      return { value: out };
    }
    default:
      return undefined;
  }
}

/** An object key written as a name or a literal string. */
export function objectKey(key: Expr): string | undefined {
  if (key.t === "name") return key.name;
  return staticString(key);
}
