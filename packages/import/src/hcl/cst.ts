/**
 * tree-sitter's concrete tree → the importer's HCL tree (ast.ts). Text inside templates is cut
 * from the source between the nodes (the grammar's template_literal leaves out whitespace at its
 * ends); comments are found once, outside templates, and given to the item they stand above or
 * follow on its line.
 */
import type { Node } from "web-tree-sitter";
import { ImportError, type Position } from "../report.js";
import type { Body, Comments, Expr, Item, ObjectEntry, TemplatePart } from "./ast.js";
import { positionOf } from "./parser.js";

interface Anchor {
  start: number;
  end: number;
  endRow: number;
  comments: Comments;
}
interface Container {
  start: number;
  end: number;
  anchors: Anchor[];
  trailing: string[];
}

const OPERATORS = new Set(["*", "/", "%", "+", "-", ">", ">=", "<", "<=", "==", "!=", "&&", "||"]);

export class CstReader {
  private readonly containers: Container[] = [];

  constructor(
    private readonly text: string,
    private readonly file: string,
  ) {}

  /** The file's body, with comments given to their items. */
  readFile(root: Node): Body {
    const top = this.container(root);
    let body: Body = { items: [], trailing: top.trailing };
    for (const child of root.namedChildren) {
      if (child?.type === "body") body = this.readBody(child, top);
      else if (child?.type === "object") {
        throw new ImportError(
          `${this.file}: a JSON object in an .hcl file; name the file .json (or .pkr.json)`,
          positionOf(this.file, child),
        );
      }
    }
    body.trailing = top.trailing;
    this.placeComments(root);
    return body;
  }

  private pos(node: Node): Position {
    return positionOf(this.file, node);
  }

  private container(node: Node): Container {
    const c: Container = { start: node.startIndex, end: node.endIndex, anchors: [], trailing: [] };
    this.containers.push(c);
    return c;
  }

  private anchor(node: Node, into: Container): Comments {
    const comments: Comments = { before: [] };
    into.anchors.push({ start: node.startIndex, end: node.endIndex, endRow: node.endPosition.row, comments });
    return comments;
  }

  private readBody(node: Node, into: Container): Body {
    const items: Item[] = [];
    for (const child of node.namedChildren) {
      if (!child) continue;
      if (child.type === "attribute") items.push(this.readAttribute(child, into));
      else if (child.type === "block") items.push(this.readBlock(child, into));
    }
    return { items, trailing: into.trailing };
  }

  private readAttribute(node: Node, into: Container): Item {
    const comments = this.anchor(node, into);
    const name = node.namedChildren.find((c) => c?.type === "identifier");
    const expr = node.namedChildren.find((c) => c?.type === "expression");
    if (!name || !expr) throw this.broken(node);
    return {
      kind: "attribute",
      name: name.text,
      expr: this.expression(expr),
      pos: this.pos(node),
      comments,
      raw: this.raw(node),
    };
  }

  private readBlock(node: Node, into: Container): Item {
    const comments = this.anchor(node, into);
    const kids = node.namedChildren.filter((c): c is Node => c !== null);
    const type = kids[0];
    if (type?.type !== "identifier") throw this.broken(node);
    const labels: string[] = [];
    let bodyNode: Node | undefined;
    for (const k of kids.slice(1)) {
      if (k.type === "string_lit") labels.push(this.stringLit(k));
      else if (k.type === "identifier") labels.push(k.text);
      else if (k.type === "body") bodyNode = k;
    }
    const inner = this.container(node);
    const body = bodyNode ? this.readBody(bodyNode, inner) : { items: [], trailing: inner.trailing };
    return {
      kind: "block",
      type: type.text,
      labels,
      body,
      pos: this.pos(node),
      comments,
      raw: this.raw(node),
    };
  }

  /** The node's text, with the indentation of its first line so that the lines line up. */
  private raw(node: Node): string {
    const lineStart = this.text.lastIndexOf("\n", node.startIndex - 1) + 1;
    const indent = this.text.slice(lineStart, node.startIndex);
    const text = node.text;
    if (!/^[ \t]*$/.test(indent)) return text;
    return text
      .split("\n")
      .map((l, i) => (i === 0 ? l : l.startsWith(indent) ? l.slice(indent.length) : l))
      .join("\n");
  }

  private broken(node: Node): ImportError {
    const p = this.pos(node);
    return new ImportError(`${p.file}:${p.line}:${p.column}: unexpected HCL structure`, p);
  }

  // ---- expressions ----

  expression(node: Node): Expr {
    const kids = node.children.filter((c): c is Node => c !== null && c.type !== "comment");
    if (kids.length === 1 && kids[0]?.type === "conditional") return this.conditional(kids[0]);
    return this.term(kids, node);
  }

  private conditional(node: Node): Expr {
    const parts = node.namedChildren.filter((c): c is Node => c?.type === "expression");
    const [test, then, otherwise] = parts;
    if (!test || !then || !otherwise) throw this.broken(node);
    return rightAssociate({
      t: "conditional",
      test: this.expression(test),
      then: this.expression(then),
      else: this.expression(otherwise),
      pos: this.pos(node),
    });
  }

  /** A primary followed by its accessors (index, attribute, splat), as the grammar flattens them. */
  private term(kids: Node[], whole: Node): Expr {
    let i = 0;
    let expr: Expr;
    const first = kids[0];
    if (!first) throw this.broken(whole);
    if (first.type === "(") {
      const inner = kids[1];
      if (inner?.type !== "expression") throw this.broken(whole);
      expr = { t: "paren", inner: this.expression(inner), pos: this.pos(first) };
      i = 3;
    } else {
      expr = this.primary(first);
      i = 1;
    }
    for (; i < kids.length; i++) {
      const k = kids[i] as Node;
      expr = this.postfix(expr, k);
    }
    return expr;
  }

  private postfix(object: Expr, k: Node): Expr {
    const pos = object.pos;
    switch (k.type) {
      case "get_attr": {
        const id = k.namedChildren.find((c) => c?.type === "identifier");
        if (!id) throw this.broken(k);
        return { t: "attr", object, name: id.text, pos };
      }
      case "index": {
        const which = k.namedChildren[0];
        if (!which) throw this.broken(k);
        if (which.type === "legacy_index") {
          const n = Number(which.text.slice(1));
          return { t: "index", object, index: { t: "literal", value: n, pos: this.pos(which) }, pos };
        }
        const e = which.namedChildren.find((c) => c?.type === "expression");
        if (!e) throw this.broken(k);
        return { t: "index", object, index: this.expression(e), pos };
      }
      case "splat": {
        const s = k.namedChildren[0];
        if (!s) throw this.broken(k);
        const rest: Array<{ attr: string } | { index: Expr }> = [];
        for (const a of s.namedChildren) {
          if (!a) continue;
          if (a.type === "get_attr") {
            const id = a.namedChildren.find((c) => c?.type === "identifier");
            if (id) rest.push({ attr: id.text });
          } else if (a.type === "index") {
            const which = a.namedChildren[0];
            if (which?.type === "legacy_index")
              rest.push({
                index: { t: "literal", value: Number(which.text.slice(1)), pos: this.pos(which) },
              });
            else {
              const e = which?.namedChildren.find((c) => c?.type === "expression");
              if (e) rest.push({ index: this.expression(e) });
            }
          }
        }
        return { t: "splat", object, rest, pos };
      }
      default:
        throw this.broken(k);
    }
  }

  private primary(node: Node): Expr {
    const pos = this.pos(node);
    switch (node.type) {
      case "literal_value":
        return this.literal(node.namedChildren[0] ?? node);
      case "template_expr":
        return this.template(node.namedChildren[0] ?? node);
      case "collection_value": {
        const c = node.namedChildren[0];
        if (!c) throw this.broken(node);
        return c.type === "tuple" ? this.tuple(c) : this.object(c);
      }
      case "variable_expr":
        return { t: "name", name: node.text, pos };
      case "function_call":
        return this.call(node);
      case "for_expr":
        return this.forExpr(node.namedChildren[0] ?? node);
      case "operation":
        return this.operation(node.namedChildren[0] ?? node);
      case "expression":
        return this.expression(node);
      default:
        throw this.broken(node);
    }
  }

  private literal(node: Node): Expr {
    const pos = this.pos(node);
    switch (node.type) {
      case "numeric_lit":
        return { t: "literal", value: Number(node.text), pos };
      case "bool_lit":
        return { t: "literal", value: node.text === "true", pos };
      case "null_lit":
        return { t: "literal", value: null, pos };
      case "string_lit":
        return { t: "literal", value: this.stringLit(node), pos };
      default:
        throw this.broken(node);
    }
  }

  /** A quoted string without interpolation: its decoded text. */
  private stringLit(node: Node): string {
    const start = node.children[0];
    const end = node.children[node.children.length - 1];
    if (!start || !end) return "";
    return decodeQuoted(this.text.slice(start.endIndex, end.startIndex));
  }

  private tuple(node: Node): Expr {
    const inner = this.container(node);
    const items: Array<{ expr: Expr; comments: Comments }> = [];
    for (const c of node.namedChildren) {
      if (c?.type !== "expression") continue;
      const comments = this.anchor(c, inner);
      items.push({ expr: this.expression(c), comments });
    }
    return { t: "tuple", items, pos: this.pos(node) };
  }

  private object(node: Node): Expr {
    const inner = this.container(node);
    const entries: ObjectEntry[] = [];
    for (const c of node.namedChildren) {
      if (c?.type !== "object_elem") continue;
      const comments = this.anchor(c, inner);
      const key = c.childForFieldName("key");
      const val = c.childForFieldName("val");
      if (!key || !val) throw this.broken(c);
      entries.push({ key: this.expression(key), value: this.expression(val), comments, pos: this.pos(c) });
    }
    return { t: "object", entries, pos: this.pos(node) };
  }

  private call(node: Node): Expr {
    const name = node.namedChildren.find((c) => c?.type === "identifier");
    const args = node.namedChildren.find((c) => c?.type === "function_arguments");
    const list: Expr[] = [];
    let expand = false;
    for (const a of args?.namedChildren ?? []) {
      if (a?.type === "expression") list.push(this.expression(a));
      else if (a?.type === "ellipsis") expand = true;
    }
    return { t: "call", name: name?.text ?? "", args: list, expand, pos: this.pos(node) };
  }

  private forExpr(node: Node): Expr {
    const kids = node.namedChildren.filter((c): c is Node => c !== null);
    const intro = kids.find((c) => c.type === "for_intro");
    if (!intro) throw this.broken(node);
    const names = intro.namedChildren.filter((c) => c?.type === "identifier").map((c) => (c as Node).text);
    const coll = intro.namedChildren.find((c) => c?.type === "expression");
    if (!coll || names.length === 0) throw this.broken(node);
    const exprs = kids.filter((c) => c.type === "expression").map((c) => this.expression(c));
    const cond = kids.find((c) => c.type === "for_cond")?.namedChildren.find((c) => c?.type === "expression");
    const kind = node.type === "for_object_expr" ? "object" : "tuple";
    const keyVar = names.length === 2 ? names[0] : undefined;
    const valueVar = (names.length === 2 ? names[1] : names[0]) as string;
    const base = {
      t: "for" as const,
      kind: kind as "tuple" | "object",
      ...(keyVar !== undefined ? { keyVar } : {}),
      valueVar,
      collection: this.expression(coll),
      group: kids.some((c) => c.type === "ellipsis"),
      ...(cond ? { cond: this.expression(cond) } : {}),
      pos: this.pos(node),
    };
    if (kind === "object") {
      const [key, value] = exprs;
      if (!key || !value) throw this.broken(node);
      return { ...base, key, value };
    }
    const [value] = exprs;
    if (!value) throw this.broken(node);
    return { ...base, value };
  }

  private operation(node: Node): Expr {
    const pos = this.pos(node);
    const kids = node.children.filter((c): c is Node => c !== null && c.type !== "comment");
    if (node.type === "unary_operation") {
      const op = kids[0]?.type as "!" | "-";
      return { t: "unary", op, operand: this.term(kids.slice(1), node), pos };
    }
    let depth = 0;
    for (let i = 0; i < kids.length; i++) {
      const k = kids[i] as Node;
      if (k.type === "(") depth++;
      else if (k.type === ")") depth--;
      else if (depth === 0 && i > 0 && !k.isNamed && OPERATORS.has(k.type)) {
        return {
          t: "binary",
          op: k.type,
          left: this.term(kids.slice(0, i), node),
          right: this.term(kids.slice(i + 1), node),
          pos,
        };
      }
    }
    throw this.broken(node);
  }

  // ---- templates ----

  private template(node: Node): Expr {
    const pos = this.pos(node);
    const kids = node.children.filter((c): c is Node => c !== null);
    if (node.type === "quoted_template") {
      const start = kids[0] as Node;
      const end = kids[kids.length - 1] as Node;
      return { t: "template", parts: this.parts(kids, start.endIndex, end.startIndex, false), pos };
    }
    // heredoc: <<[-]ID \n … \n ID
    const ids = kids.filter((c) => c.type === "heredoc_identifier");
    const open = ids[0];
    const close = ids[ids.length - 1];
    if (!open || !close || open === close) throw this.broken(node);
    const nl = this.text.indexOf("\n", open.endIndex);
    const from = nl < 0 ? open.endIndex : nl + 1;
    const to = this.text.lastIndexOf("\n", close.startIndex - 1) + 1;
    let parts = this.parts(kids, from, Math.max(from, to), true);
    if (kids[0]?.text === "<<-") parts = unindent(parts);
    return { t: "template", parts, pos };
  }

  /** Template parts of the children between `from` and `to` (text is cut from the source). */
  private parts(kids: Node[], from: number, to: number, heredoc: boolean): TemplatePart[] {
    const out: TemplatePart[] = [];
    let cursor = from;
    const text = (a: number, b: number) => {
      if (b <= a) return;
      const raw = this.text.slice(a, b);
      out.push({ t: "text", text: heredoc ? decodeHeredoc(raw) : decodeQuoted(raw) });
    };
    for (const k of kids) {
      if (k.startIndex < from || k.endIndex > to) continue;
      if (k.type === "template_interpolation") {
        text(cursor, k.startIndex);
        out.push(this.interpolation(k));
        cursor = k.endIndex;
      } else if (k.type === "template_directive") {
        text(cursor, k.startIndex);
        out.push(this.directive(k.namedChildren[0] ?? k, heredoc));
        cursor = k.endIndex;
      }
    }
    text(cursor, to);
    return out;
  }

  private interpolation(node: Node): TemplatePart {
    const kids = node.children.filter((c): c is Node => c !== null);
    const e = kids.find((c) => c.type === "expression");
    if (!e) throw this.broken(node);
    const strips = kids.filter((c) => c.type === "strip_marker");
    return {
      t: "interp",
      expr: this.expression(e),
      stripBefore: strips.some((s) => s.startIndex < e.startIndex),
      stripAfter: strips.some((s) => s.startIndex > e.startIndex),
    };
  }

  private directive(node: Node, heredoc: boolean): TemplatePart {
    const kids = node.children.filter((c): c is Node => c !== null);
    // `%{~ … ~}`: a strip marker right after the opening or right before the closing.
    const strip = (n: Node) => {
      const ch = n.children;
      return {
        before: ch[1]?.type === "strip_marker",
        after: ch.length > 3 && ch[ch.length - 2]?.type === "strip_marker",
      };
    };
    if (node.type === "template_if") {
      const intro = kids.find((c) => c.type === "template_if_intro") as Node;
      const elseIntro = kids.find((c) => c.type === "template_else_intro");
      const end = kids.find((c) => c.type === "template_if_end") as Node;
      const cond = intro.namedChildren.find((c) => c?.type === "expression");
      if (!cond || !end) throw this.broken(node);
      const then = this.parts(kids, intro.endIndex, (elseIntro ?? end).startIndex, heredoc);
      const s = strip(intro);
      return {
        t: "if",
        cond: this.expression(cond),
        then,
        ...(elseIntro ? { else: this.parts(kids, elseIntro.endIndex, end.startIndex, heredoc) } : {}),
        stripBefore: s.before,
        stripAfter: s.after,
      };
    }
    const start = kids.find((c) => c.type === "template_for_start") as Node;
    const end = kids.find((c) => c.type === "template_for_end") as Node;
    if (!start || !end) throw this.broken(node);
    const names = start.namedChildren.filter((c) => c?.type === "identifier").map((c) => (c as Node).text);
    const coll = start.namedChildren.find((c) => c?.type === "expression");
    if (!coll || names.length === 0) throw this.broken(node);
    const s = strip(start);
    return {
      t: "for",
      ...(names.length === 2 ? { keyVar: names[0] as string } : {}),
      valueVar: names[names.length - 1] as string,
      collection: this.expression(coll),
      body: this.parts(kids, start.endIndex, end.startIndex, heredoc),
      stripBefore: s.before,
      stripAfter: s.after,
    };
  }

  // ---- comments ----

  /** Give every comment outside templates to the item it belongs to. */
  private placeComments(root: Node): void {
    const comments: Node[] = [];
    const walk = (n: Node) => {
      if (n.type === "comment") {
        comments.push(n);
        return;
      }
      if (n.type === "template_expr" || n.type === "string_lit") return;
      for (const c of n.children) if (c) walk(c);
    };
    walk(root);
    for (const c of comments) {
      const lines = commentText(c.text);
      const home = this.innermost(c.startIndex, c.endIndex);
      if (!home) continue;
      const row = c.startPosition.row;
      const trailingOf = home.anchors
        .filter((a) => a.endRow === row && a.end <= c.startIndex)
        .sort((a, b) => b.end - a.end)[0];
      if (trailingOf && !this.text.slice(trailingOf.end, c.startIndex).includes("\n") && lines.length === 1) {
        const prev = trailingOf.comments.after;
        trailingOf.comments.after = prev === undefined ? lines[0] : `${prev} ${lines[0]}`;
        continue;
      }
      const next = home.anchors.filter((a) => a.start >= c.endIndex).sort((a, b) => a.start - b.start)[0];
      if (next) next.comments.before.push(...lines);
      else home.trailing.push(...lines);
    }
  }

  private innermost(start: number, end: number): Container | undefined {
    let best: Container | undefined;
    for (const c of this.containers) {
      if (c.start <= start && end <= c.end && (!best || c.end - c.start < best.end - best.start)) best = c;
    }
    return best;
  }
}

/**
 * HCL's `a ? b : c ? d : e` is `a ? b : (c ? d : e)`; the grammar nests it the other way
 * (`(a ? b : c) ? d : e`) when there are no parentheses. Turn it around.
 */
function rightAssociate(e: Expr): Expr {
  if (e.t !== "conditional" || e.test.t !== "conditional") return e;
  const inner = e.test;
  return rightAssociate({
    ...inner,
    else: rightAssociate({
      t: "conditional",
      test: inner.else,
      then: e.then,
      else: e.else,
      pos: inner.else.pos,
    }),
  });
}

/** The lines of a comment, without `#`, `//`, or the `/*` `*\/` around a block comment. */
export function commentText(raw: string): string[] {
  if (raw.startsWith("#")) return [raw.slice(1).trimEnd()];
  if (raw.startsWith("//")) return [raw.slice(2).trimEnd()];
  const inner = raw.replace(/^\/\*/, "").replace(/\*\/$/, "");
  const lines = inner.split("\n").map((l) => l.replace(/^\s*\* ?/, " ").trimEnd());
  while (lines.length > 0 && lines[0]?.trim() === "") lines.shift();
  while (lines.length > 0 && lines[lines.length - 1]?.trim() === "") lines.pop();
  return lines.map((l) => (l.startsWith(" ") ? l : ` ${l}`));
}

/** Text of a quoted template: `\n \r \t \" \\ \uXXXX \UXXXXXXXX`, `$${` and `%%{`. */
export function decodeQuoted(raw: string): string {
  let out = "";
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i] as string;
    if (c === "\\" && i + 1 < raw.length) {
      const e = raw[i + 1] as string;
      const simple: Record<string, string> = { n: "\n", r: "\r", t: "\t", '"': '"', "\\": "\\" };
      if (e in simple) {
        out += simple[e];
        i++;
        continue;
      }
      if (e === "u" || e === "U") {
        const len = e === "u" ? 4 : 8;
        const hex = raw.slice(i + 2, i + 2 + len);
        if (/^[0-9a-fA-F]+$/.test(hex) && hex.length === len) {
          out += String.fromCodePoint(Number.parseInt(hex, 16));
          i += 1 + len;
          continue;
        }
      }
      out += c;
      continue;
    }
    if ((c === "$" || c === "%") && raw[i + 1] === c && raw[i + 2] === "{") {
      out += `${c}{`;
      i += 2;
      continue;
    }
    out += c;
  }
  return out;
}

/** Text of a heredoc: only `$${` and `%%{` are escapes. */
export function decodeHeredoc(raw: string): string {
  return raw.replace(/([$%])\1\{/g, "$1{");
}

/** `<<-`: remove the smallest indentation of the lines that hold more than spaces from every line. */
function unindent(parts: TemplatePart[]): TemplatePart[] {
  // Interpolations and directives count as content, so a line that starts with one has no
  // indentation; the text inside directives is part of the lines too.
  const flatten = (ps: TemplatePart[]): string =>
    ps
      .map((p) => {
        if (p.t === "text") return p.text;
        if (p.t === "if") return `\u0000${flatten(p.then)}${flatten(p.else ?? [])}\u0000`;
        if (p.t === "for") return `\u0000${flatten(p.body)}\u0000`;
        return "\u0000";
      })
      .join("");
  let min = Number.POSITIVE_INFINITY;
  for (const line of flatten(parts).split("\n")) {
    const indent = /^[ \t]*/.exec(line)?.[0].length ?? 0;
    if (indent < line.length) min = Math.min(min, indent);
  }
  if (!Number.isFinite(min) || min === 0) return parts;
  let atLineStart = true;
  const strip = (ps: TemplatePart[]): TemplatePart[] =>
    ps.map((p) => {
      if (p.t === "interp") {
        atLineStart = false;
        return p;
      }
      if (p.t === "if") {
        atLineStart = false;
        const then = strip(p.then);
        const otherwise = p.else ? strip(p.else) : undefined;
        return { ...p, then, ...(otherwise ? { else: otherwise } : {}) };
      }
      if (p.t === "for") {
        atLineStart = false;
        return { ...p, body: strip(p.body) };
      }
      const lines = p.text.split("\n").map((line, i) => {
        const cut = i > 0 || atLineStart;
        return cut ? line.replace(new RegExp(`^[ \\t]{0,${min}}`), "") : line;
      });
      atLineStart = p.text.endsWith("\n");
      return { t: "text", text: lines.join("\n") };
    });
  return strip(parts);
}
