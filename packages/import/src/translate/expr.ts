/**
 * HCL expressions as kiln values: a literal stays a YAML value, a list or map of them a YAML list
 * or map, a string template a string with `${{ … }}` parts, anything else one `${{ … }}`.
 * References are renamed where kiln names them differently (data sources, packer.version, path.root
 * seen from another folder, dynamic blocks' iterators); what kiln lacks throws Unsupported.
 */

import type { KNode } from "../emit/model.js";
import { kmap, kseq, scalar } from "../emit/model.js";
import type { Expr, TemplatePart } from "../hcl/ast.js";
import { objectKey } from "../hcl/ast.js";
import type { Position } from "../report.js";
import { type Piece, quote, TemplateProblem, translateGoTemplate } from "./gotemplate.js";
import { goLayoutToFormatdate, strftimeToFormatdate } from "./timefmt.js";

export class Unsupported extends Error {
  override name = "Unsupported";
  constructor(
    message: string,
    readonly pos?: Position,
  ) {
    super(message);
  }
}

export interface ExprEnv {
  /**
   * The kiln spelling of a reference `root.a.b…` (attributes only), or undefined to keep it as
   * written. Throws Unsupported for what is not imported.
   */
  reference(root: string, attrs: string[], pos: Position): { text: string; used: number } | undefined;
  /** kiln expression for a Go placeholder `{{ .Field }}` in text, or undefined to keep it as text. */
  field(name: string): string | undefined;
  /** A translation whose behaviour differs a little from Packer's. */
  note(message: string, pos: Position): void;
  /**
   * A value Packer reads from a secret store (`vault("p", "k")`): the kiln expression of the
   * variable that takes its place.
   */
  external(fn: string, args: string[], pos: Position): string;
}

/** Functions of Packer that kiln does not have, and why. */
const MISSING_FUNCTIONS: Record<string, string> = {
  rsadecrypt: "rsadecrypt() has no kiln equivalent",
};

/** Functions that read a secret store: each call becomes a variable the user sets. */
const EXTERNAL = new Set(["vault", "consul_key", "aws_secretsmanager", "aws_secretsmanager_raw"]);

const IDENT = /^[A-Za-z_][A-Za-z0-9_-]*$/;
const RESERVED = new Set(["true", "false", "null", "for", "in", "if"]);

const PREC: Record<string, number> = {
  "||": 1,
  "&&": 2,
  "==": 3,
  "!=": 3,
  "<": 4,
  "<=": 4,
  ">": 4,
  ">=": 4,
  "+": 5,
  "-": 5,
  "*": 6,
  "/": 6,
  "%": 6,
};

export function keyText(k: string): string {
  return IDENT.test(k) && !RESERVED.has(k) ? k : quote(k);
}

export class ExprTranslator {
  /** Names bound by `for` expressions and dynamic blocks, innermost last. */
  private readonly bound: Array<Map<string, string | { key?: string; value: string }>> = [];

  constructor(private readonly env: ExprEnv) {}

  /** Run `fn` with names bound: a for variable (kept), or a dynamic block's iterator (renamed). */
  withBound<T>(names: Map<string, string | { key?: string; value: string }>, fn: () => T): T {
    this.bound.push(names);
    try {
      return fn();
    } finally {
      this.bound.pop();
    }
  }

  private lookupBound(name: string): string | { key?: string; value: string } | undefined {
    for (let i = this.bound.length - 1; i >= 0; i--) {
      const b = this.bound[i]?.get(name);
      if (b !== undefined) return b;
    }
    return undefined;
  }

  /** A fresh name for a generated `for` variable. */
  private fresh(base: string): string {
    let n = base;
    let i = 1;
    while (this.lookupBound(n) !== undefined) n = `${base}${++i}`;
    return n;
  }

  // ---- values ----

  /** The expression as a YAML value. */
  value(e: Expr): KNode {
    switch (e.t) {
      case "literal":
        // Packer placeholders ({{ .HTTPIP }}) are found in plain strings too.
        if (typeof e.value === "string")
          return scalar(this.templateString([{ t: "text", text: e.value }], e.pos));
        return scalar(e.value);
      case "template":
        return scalar(this.templateString(e.parts, e.pos));
      case "tuple": {
        const seq = kseq(
          e.items.map((it) => ({ value: this.value(it.expr), comments: it.comments, origin: it.expr.pos })),
        );
        return seq;
      }
      case "object": {
        const keys = e.entries.map((en) => objectKey(en.key));
        if (keys.every((k) => k !== undefined)) {
          return kmap(
            e.entries.map((en, i) => ({
              key: keys[i] as string,
              value: this.value(en.value),
              comments: en.comments,
              origin: en.pos,
            })),
          );
        }
        return scalar(`\${{ ${this.expr(e)} }}`);
      }
      case "paren":
        return this.value(e.inner);
      case "unary":
        if (e.op === "-" && e.operand.t === "literal" && typeof e.operand.value === "number")
          return scalar(-e.operand.value);
        return scalar(`\${{ ${this.expr(e)} }}`);
      default: {
        const text = this.expr(e);
        // What came out plain (a try() whose fallback is all that is left): a plain value.
        if (
          /^"(?:[^"\\]|\\.)*"$/.test(text) ||
          /^-?\d+(\.\d+)?$/.test(text) ||
          text === "true" ||
          text === "false"
        )
          return scalar(JSON.parse(text) as string | number | boolean);
        return scalar(`\${{ ${text} }}`);
      }
    }
  }

  /** A template as a kiln string: text, and `${{ … }}` for each interpolation. */
  templateString(parts: TemplatePart[], pos?: Position): string {
    const stripped = applyStrips(parts);
    if (stripped.length === 1 && stripped[0]?.t === "interp") return `\${{ ${this.expr(stripped[0].expr)} }}`;
    let out = "";
    for (const p of stripped) {
      if (p.t === "text") {
        for (const piece of this.pieces(p.text, pos)) {
          out += piece.t === "text" ? piece.text.replace(/\$\{\{/g, "$$$${{") : `\${{ ${piece.expr} }}`;
        }
      } else out += `\${{ ${this.partExpr(p)} }}`;
    }
    return out;
  }

  /** Go placeholders in text, as kiln pieces. */
  private pieces(text: string, pos?: Position): Piece[] {
    try {
      const at = pos ?? { file: "", line: 0, column: 0 };
      return translateGoTemplate(text, {
        field: (name) => this.env.field(name),
        variable: (name) => this.env.reference("var", [name], at)?.text,
        note: (m) => this.env.note(m, pos ?? { file: "", line: 0, column: 0 }),
      });
    } catch (err) {
      if (err instanceof TemplateProblem) throw new Unsupported(err.message, pos);
      throw err;
    }
  }

  // ---- expressions ----

  /** The expression as kiln expression text (what goes between `${{` and `}}`). */
  expr(e: Expr): string {
    switch (e.t) {
      case "literal":
        if (e.value === null) return "null";
        if (typeof e.value === "string") return this.templateExpr([{ t: "text", text: e.value }], e.pos);
        return String(e.value);
      case "template":
        return this.templateExpr(applyStrips(e.parts), e.pos);
      case "tuple":
        return `[${e.items.map((i) => this.expr(i.expr)).join(", ")}]`;
      case "object":
        return this.objectExpr(e);
      case "name":
      case "attr":
      case "index":
        return this.traversal(e);
      case "splat": {
        const v = this.fresh("item");
        const body = this.withBound(new Map([[v, v]]), () => {
          let s = v;
          for (const r of e.rest) s = "attr" in r ? `${s}.${r.attr}` : `${s}[${this.expr(r.index)}]`;
          return s;
        });
        return `[for ${v} in ${this.expr(e.object)}: ${body}]`;
      }
      case "call":
        return this.call(e);
      case "for":
        return this.forExpr(e);
      case "unary":
        return `${e.op}${this.wrap(e.operand, 7)}`;
      case "binary": {
        const p = PREC[e.op] ?? 0;
        return `${this.wrap(e.left, p)} ${e.op} ${this.wrap(e.right, p + 1)}`;
      }
      case "conditional":
        return `${this.wrap(e.test, 1)} ? ${this.expr(e.then)} : ${this.expr(e.else)}`;
      case "paren":
        return `(${this.expr(e.inner)})`;
    }
  }

  /** `e` as an operand of an operator of precedence `p`: in parentheses when it binds less tightly. */
  private wrap(e: Expr, p: number): string {
    const own = e.t === "binary" ? (PREC[e.op] ?? 0) : e.t === "conditional" ? 0 : 99;
    const text = this.expr(e);
    return own < p ? `(${text})` : text;
  }

  private objectExpr(e: Extract<Expr, { t: "object" }>): string {
    const fixed: string[] = [];
    const computed: Array<[string, string]> = [];
    for (const en of e.entries) {
      const k = objectKey(en.key);
      if (k !== undefined) fixed.push(`${keyText(k)} = ${this.expr(en.value)}`);
      else {
        const key = en.key.t === "paren" ? en.key.inner : en.key;
        computed.push([this.expr(key), this.expr(en.value)]);
      }
    }
    const literal = `{${fixed.join(", ")}}`;
    if (computed.length === 0) return literal;
    // Keys computed from expressions: zipmap() of them, merged with the fixed ones (later wins, as in HCL).
    const zipped = `zipmap([${computed.map((c) => c[0]).join(", ")}], [${computed.map((c) => c[1]).join(", ")}])`;
    return fixed.length ? `merge(${literal}, ${zipped})` : zipped;
  }

  /** A template inside an expression: the one interpolation, or format() of text and values. */
  private templateExpr(parts: TemplatePart[], pos: Position): string {
    if (parts.length === 0) return '""';
    if (parts.length === 1 && parts[0]?.t === "interp") return this.expr(parts[0].expr);
    let fmt = "";
    const args: string[] = [];
    for (const p of parts) {
      if (p.t === "text") {
        for (const piece of this.pieces(p.text, pos)) {
          if (piece.t === "text") fmt += piece.text.replace(/%/g, "%%");
          else {
            fmt += "%s";
            args.push(piece.expr);
          }
        }
      } else {
        fmt += "%s";
        args.push(this.partExpr(p));
      }
    }
    return args.length === 0 ? quote(fmt.replace(/%%/g, "%")) : `format(${[quote(fmt), ...args].join(", ")})`;
  }

  /** An interpolation or directive of a template, as an expression giving its text. */
  private partExpr(p: Exclude<TemplatePart, { t: "text" }>): string {
    switch (p.t) {
      case "interp":
        return this.expr(p.expr);
      case "if": {
        const then = this.templateExpr(applyStrips(p.then), p.cond.pos);
        const otherwise = p.else ? this.templateExpr(applyStrips(p.else), p.cond.pos) : '""';
        return `${this.wrap(p.cond, 1)} ? ${then} : ${otherwise}`;
      }
      case "for": {
        const names = new Map<string, string>([[p.valueVar, p.valueVar]]);
        if (p.keyVar) names.set(p.keyVar, p.keyVar);
        const coll = this.expr(p.collection);
        const body = this.withBound(names, () => this.templateExpr(applyStrips(p.body), p.collection.pos));
        const vars = p.keyVar ? `${p.keyVar}, ${p.valueVar}` : p.valueVar;
        return `join("", [for ${vars} in ${coll}: ${body}])`;
      }
    }
  }

  private forExpr(e: Extract<Expr, { t: "for" }>): string {
    const names = new Map<string, string>([[e.valueVar, e.valueVar]]);
    if (e.keyVar) names.set(e.keyVar, e.keyVar);
    const coll = this.expr(e.collection);
    const vars = e.keyVar ? `${e.keyVar}, ${e.valueVar}` : e.valueVar;
    return this.withBound(names, () => {
      const cond = e.cond ? ` if ${this.expr(e.cond)}` : "";
      if (e.kind === "tuple") return `[for ${vars} in ${coll}: ${this.expr(e.value)}${cond}]`;
      const key = this.expr(e.key as Expr);
      return `{for ${vars} in ${coll}: ${key} => ${this.expr(e.value)}${e.group ? "..." : ""}${cond}}`;
    });
  }

  /** `a.b[c].d`: the root and the attributes after it go through `env.reference`. */
  private traversal(e: Expr): string {
    const chain: Expr[] = [];
    let cur: Expr = e;
    while (cur.t === "attr" || cur.t === "index") {
      chain.unshift(cur);
      cur = cur.object;
    }
    if (cur.t !== "name") {
      let s = this.wrap(cur, 99);
      for (const c of chain)
        s += c.t === "attr" ? `.${c.name}` : `[${this.expr((c as { index: Expr }).index)}]`;
      return s;
    }
    const attrs: string[] = [];
    for (const c of chain) {
      if (c.t !== "attr") break;
      attrs.push(c.name);
    }
    let head: string;
    let used: number;
    const bound = this.lookupBound(cur.name);
    if (bound !== undefined) {
      if (typeof bound === "string") {
        head = bound;
        used = 0;
      } else {
        // a dynamic block's iterator: `disk.value` → the for variable, `disk.key` → its key variable
        const which = attrs[0];
        if (which === "value") head = bound.value;
        else if (which === "key" && bound.key) head = bound.key;
        else
          throw new Unsupported(
            `${cur.name}.${which ?? ""}: a dynamic block's iterator has only key and value`,
            e.pos,
          );
        used = 1;
      }
    } else {
      const r = this.env.reference(cur.name, attrs, cur.pos);
      if (r) {
        head = r.text;
        used = r.used;
      } else {
        head = cur.name;
        used = 0;
      }
    }
    let s = head;
    chain.forEach((c, i) => {
      if (i < used) return;
      s += c.t === "attr" ? `.${c.name}` : `[${this.expr((c as { index: Expr }).index)}]`;
    });
    return s;
  }

  private call(e: Extract<Expr, { t: "call" }>): string {
    const missing = MISSING_FUNCTIONS[e.name];
    if (missing) throw new Unsupported(missing, e.pos);
    if (e.expand) {
      if (
        e.args.length === 1 &&
        ["concat", "merge", "setunion", "coalesce", "coalescelist", "min", "max"].includes(e.name)
      )
        throw new Unsupported(`${e.name}(list...): kiln has no argument expansion (...)`, e.pos);
      throw new Unsupported(`${e.name}(…...): kiln has no argument expansion (...)`, e.pos);
    }
    const args = () => e.args.map((a) => this.expr(a));
    if (EXTERNAL.has(e.name)) {
      const values = e.args.map((a) =>
        a.t === "literal" && typeof a.value === "string" ? a.value : staticText(a),
      );
      if (values.some((v) => v === undefined))
        throw new Unsupported(`${e.name}() with computed arguments has no kiln equivalent`, e.pos);
      return this.env.external(e.name, values as string[], e.pos);
    }
    const staticArg = (i: number): string | undefined => {
      const a = e.args[i];
      if (a?.t === "literal" && typeof a.value === "string") return a.value;
      if (a?.t === "template" && a.parts.every((p) => p.t === "text"))
        return a.parts.map((p) => (p as { text: string }).text).join("");
      return undefined;
    };
    switch (e.name) {
      case "try": {
        // What kiln lacks fails here as it would fail in Packer: try() takes the next argument.
        const ok: string[] = [];
        let first: Unsupported | undefined;
        for (const a of e.args) {
          try {
            ok.push(this.expr(a));
          } catch (err) {
            if (!(err instanceof Unsupported)) throw err;
            first ??= err;
            this.env.note(
              `try(): ${err.message}; the next argument is used, as in Packer when it fails`,
              err.pos ?? e.pos,
            );
          }
        }
        if (ok.length === 0) throw first ?? new Unsupported("try() without arguments", e.pos);
        return ok.length === 1 ? (ok[0] as string) : `try(${ok.join(", ")})`;
      }
      case "can": {
        try {
          return `can(${args().join(", ")})`;
        } catch (err) {
          if (!(err instanceof Unsupported)) throw err;
          this.env.note(`can(): ${err.message}; it is false, as in Packer when it fails`, err.pos ?? e.pos);
          return "false";
        }
      }
      case "legacy_isotime":
      case "legacy_strftime": {
        const f = staticArg(0);
        const spec =
          f === undefined
            ? undefined
            : e.name === "legacy_isotime"
              ? goLayoutToFormatdate(f)
              : strftimeToFormatdate(f);
        if (spec === undefined)
          throw new Unsupported(`${e.name}() with this format has no formatdate() equivalent`, e.pos);
        return `formatdate(${quote(spec)}, timestamp())`;
      }
      case "convert": {
        const type = e.args[1];
        const name = type?.t === "name" ? type.name : type?.t === "call" ? type.name : undefined;
        const fn: Record<string, string> = {
          string: "tostring",
          number: "tonumber",
          bool: "tobool",
          list: "tolist",
          tuple: "tolist",
          set: "toset",
          map: "tomap",
          object: "tomap",
        };
        const to = name === undefined ? undefined : fn[name];
        if (!to || !e.args[0]) throw new Unsupported("convert() to this type has no kiln equivalent", e.pos);
        return `${to}(${this.expr(e.args[0])})`;
      }
      case "textencodebase64":
      case "textdecodebase64": {
        const enc = staticArg(1)?.toUpperCase().replace(/[-_]/g, "");
        if (enc !== "UTF8" || !e.args[0])
          throw new Unsupported(`${e.name}() for encodings other than UTF-8 has no kiln equivalent`, e.pos);
        return `${e.name === "textencodebase64" ? "base64encode" : "base64decode"}(${this.expr(e.args[0])})`;
      }
      case "file":
      case "templatefile":
      case "fileexists":
      case "filebase64":
      case "filesha256": {
        // Packer's file functions expand a leading ~ (as Terraform's); kiln's take paths as they are.
        const [first, ...rest] = args();
        const p = e.args[0];
        const tilde =
          (p?.t === "literal" && typeof p.value === "string" && p.value.startsWith("~")) ||
          (p?.t === "template" && p.parts[0]?.t === "text" && p.parts[0].text.startsWith("~")) ||
          p?.t === "attr";
        const path = tilde && first !== undefined ? `pathexpand(${first})` : first;
        return `${e.name}(${[path, ...rest].filter((a) => a !== undefined).join(", ")})`;
      }
      default:
        return `${e.name}(${args().join(", ")})`;
    }
  }
}

/** A template of text only, as its text. */
function staticText(e: Expr): string | undefined {
  if (e.t === "template" && e.parts.every((p) => p.t === "text"))
    return e.parts.map((p) => (p as { text: string }).text).join("");
  return undefined;
}

/** Apply `~` strip markers: whitespace next to a stripping interpolation or directive is removed. */
function applyStrips(parts: TemplatePart[]): TemplatePart[] {
  const out = parts.map((p) => ({ ...p }));
  for (let i = 0; i < out.length; i++) {
    const p = out[i] as TemplatePart;
    if (p.t === "text") continue;
    const prev = out[i - 1];
    const next = out[i + 1];
    if (p.stripBefore && prev?.t === "text") prev.text = prev.text.replace(/\s+$/, "");
    if (p.stripAfter && next?.t === "text") next.text = next.text.replace(/^\s+/, "");
  }
  return out.filter((p) => p.t !== "text" || p.text !== "");
}
