// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${{` in plain strings is the syntax being parsed.
/**
 * Splitting a string into text and `${{ … }}` parts, and parsing each expression.
 *
 * The expression parser is recursive descent over an on-demand lexer, so the end of an
 * expression is found by parsing it: `}}` inside a string literal or closing two nested maps
 * does not end the expression early.
 */
import type { Ast, BinaryOp, MapEntry } from "./ast.js";
import { ExprError } from "./errors.js";
import { MAX_DEPTH, MAX_TEMPLATE_LENGTH } from "./limits.js";

export interface TemplateText {
  kind: "text";
  /** The text, with each `$${{` escape already turned into `${{`. */
  value: string;
  start: number;
  end: number;
}
export interface TemplateExpr {
  kind: "expr";
  /** The expression between the braces, trimmed. */
  source: string;
  ast: Ast;
  /** Offset of `${{`. */
  start: number;
  /** Offset just past `}}`. */
  end: number;
}
export type Template = Array<TemplateText | TemplateExpr>;

/**
 * Cheap check whether a string needs `parseTemplate` at all: true when it holds `${{` (an
 * expression, or the `$${{` escape that parsing turns into a literal `${{`).
 */
export function hasExpressions(text: string): boolean {
  return text.includes("${{");
}

/** Split `text` into literal text and parsed expressions. Throws `ExprError` (KILN_EXPR_SYNTAX). */
export function parseTemplate(text: string): Template {
  if (text.length > MAX_TEMPLATE_LENGTH) {
    throw new ExprError(
      "KILN_EXPR_SYNTAX",
      `String is ${text.length} characters long; expressions are only read in strings of up to ${MAX_TEMPLATE_LENGTH}.`,
      {
        offset: 0,
        length: text.length,
        hint: "Move long text into a file and read it with file() or templatefile().",
      },
    );
  }
  const parts: Template = [];
  let buf = "";
  let bufStart = 0;
  let i = 0;
  const flush = (end: number): void => {
    if (buf !== "") parts.push({ kind: "text", value: buf, start: bufStart, end });
    buf = "";
  };
  while (i < text.length) {
    const at = text.indexOf("${{", i);
    if (at < 0) {
      buf += text.slice(i);
      i = text.length;
      break;
    }
    if (at > 0 && text[at - 1] === "$") {
      // `$${{` is an escape for a literal `${{`.
      buf += `${text.slice(i, at - 1)}\${{`;
      i = at + 3;
      continue;
    }
    buf += text.slice(i, at);
    flush(at);
    if (!text.includes("}}", at + 3)) {
      throw new ExprError("KILN_EXPR_SYNTAX", "Unterminated `${{`: no `}}` closes it.", {
        offset: at,
        length: 3,
        hint: "Close the expression with `}}`, or write `$${{` for a literal `${{`.",
      });
    }
    const parser = new Parser(text, at + 3, at);
    const ast = parser.parseWhole();
    const end = parser.endOfExpression();
    parts.push({ kind: "expr", source: text.slice(at + 3, end - 2).trim(), ast, start: at, end });
    i = end;
    bufStart = end;
  }
  flush(text.length);
  return parts;
}

/** Parse a bare expression (no `${{ }}` around it), e.g. a variable validation condition. */
export function parseExpression(source: string): Ast {
  if (source.length > MAX_TEMPLATE_LENGTH) {
    throw new ExprError("KILN_EXPR_SYNTAX", `Expression is longer than ${MAX_TEMPLATE_LENGTH} characters.`, {
      offset: 0,
      length: source.length,
    });
  }
  const parser = new Parser(source, 0, -1);
  const ast = parser.parseWhole();
  parser.expectEnd();
  return ast;
}

type TokenKind = "num" | "str" | "ident" | "punct" | "eof";
interface Token {
  kind: TokenKind;
  /** For punct and ident: the text; for str: the decoded value. */
  text: string;
  num: number;
  start: number;
  end: number;
  /** A double-quoted string with `${ … }` interpolations: its text and expression parts. */
  parts?: Array<string | Ast>;
}

/** How deeply `"…${ "…${ … }" }…"` interpolations may nest. */
const MAX_INTERPOLATION_DEPTH = 16;

const PUNCT3 = ["..."];
const PUNCT2 = ["==", "!=", "<=", ">=", "&&", "||", "=>"];
const PUNCT1 = "()[]{},.:?=<>+-*/%!~";

const BINARY_LEVELS: ReadonlyArray<readonly BinaryOp[]> = [
  ["||"],
  ["&&"],
  ["==", "!="],
  ["<", "<=", ">", ">="],
  ["+", "-"],
  ["*", "/", "%"],
];

function isIdentStart(c: string): boolean {
  return (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c === "_";
}
function isIdentPart(c: string): boolean {
  return isIdentStart(c) || (c >= "0" && c <= "9");
}
function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= "0" && c <= "9";
}

function describe(t: Token): string {
  switch (t.kind) {
    case "eof":
      return "the end of the string";
    case "str":
      return "a string";
    case "num":
      return "a number";
    case "ident":
      return `\`${t.text}\``;
    case "punct":
      return `\`${t.text}\``;
  }
}

export class Parser {
  private pos: number;
  private tok: Token;
  private depth = 0;
  /** Depth of each finished node's subtree, to refuse trees too deep to walk safely. */
  private readonly depths = new WeakMap<Ast, number>();

  /**
   * `open` is the offset of `${{`, or -1 for a bare expression. `closer` is what ends the
   * expression: `}}` in kiln strings, `}` (or `~}`) in Packer template files (`${x}`, `%{ if x }`).
   */
  constructor(
    private readonly text: string,
    start: number,
    private readonly open: number,
    private readonly closer: "}}" | "}" = "}}",
    private readonly nesting = 0,
  ) {
    this.pos = start;
    this.tok = this.lex();
  }

  /** The current token is the name `word` (a keyword of `for` expressions and directives). */
  isWord(word: string): boolean {
    return this.tok.kind === "ident" && this.tok.text === word;
  }

  /** Consume the keyword `word`, or fail saying what was expected. */
  expectWord(word: string, what: string): Token {
    if (!this.isWord(word)) {
      throw this.error(`Expected \`${word}\` ${what}, found ${describe(this.tok)}.`, this.tok.start);
    }
    return this.next();
  }

  /** A name (of a `for` variable). */
  expectName(what: string): Token {
    if (this.tok.kind !== "ident") {
      throw this.error(`Expected a name ${what}, found ${describe(this.tok)}.`, this.tok.start);
    }
    return this.next();
  }

  /** `k, v in coll` or `v in coll` (after `for`): the names and the collection. */
  parseForHeader(): { keyVar?: string; valueVar: string; collection: Ast } {
    const first = this.expectName("after `for`");
    let keyVar: string | undefined;
    let valueVar = first.text;
    if (this.isPunct(",")) {
      this.next();
      keyVar = first.text;
      valueVar = this.expectName("after `,` in `for`").text;
    }
    this.expectWord("in", "in `for … in …`");
    const collection = this.parseExpr();
    return { ...(keyVar !== undefined ? { keyVar } : {}), valueVar, collection };
  }

  /** With closer `}`: whether the close is `~}` (strip the whitespace after it). */
  closeStrips(): boolean {
    return this.tok.kind === "punct" && this.tok.text === "~";
  }

  parseWhole(): Ast {
    if (this.isClose()) {
      throw this.error("Empty expression.", this.tok.start, 2, "Write an expression between `${{` and `}}`.");
    }
    return this.parseExpr();
  }

  /** After `parseWhole`: require `}}` (or the closer) and return the offset just past it. */
  endOfExpression(): number {
    if (!this.isClose()) {
      throw this.error(
        `Expected \`${this.closer}\` to end the expression, found ${describe(this.tok)}.`,
        this.tok.start,
      );
    }
    if (this.closer === "}") return this.tok.text === "~" ? this.tok.start + 2 : this.tok.end;
    return this.tok.start + 2;
  }

  expectEnd(): void {
    if (this.tok.kind !== "eof") {
      throw this.error(`Unexpected ${describe(this.tok)} after the expression.`, this.tok.start);
    }
  }

  isClose(): boolean {
    if (this.closer === "}") {
      return (
        this.tok.kind === "punct" &&
        (this.tok.text === "}" || (this.tok.text === "~" && this.text[this.tok.start + 1] === "}"))
      );
    }
    return this.tok.kind === "punct" && this.tok.text === "}" && this.text[this.tok.start + 1] === "}";
  }

  private error(message: string, offset: number, length?: number, hint?: string): ExprError {
    const len = length ?? Math.max(1, this.tok.start === offset ? this.tok.end - this.tok.start : 1);
    return new ExprError("KILN_EXPR_SYNTAX", message, { offset, length: len, ...(hint ? { hint } : {}) });
  }

  // ---- lexer ----

  private lex(): Token {
    const text = this.text;
    let p = this.pos;
    while (p < text.length && (text[p] === " " || text[p] === "\t" || text[p] === "\n" || text[p] === "\r"))
      p++;
    const start = p;
    const c = text[p];
    if (c === undefined) {
      this.pos = p;
      if (this.open >= 0) {
        throw new ExprError(
          "KILN_EXPR_SYNTAX",
          this.closer === "}" ? "The text ended inside `${ … }`." : "The string ended inside `${{ … }}`.",
          {
            offset: this.open,
            length: this.closer === "}" ? 2 : 3,
            hint: `Close the expression with \`${this.closer}\`.`,
          },
        );
      }
      return { kind: "eof", text: "", num: 0, start, end: start };
    }
    if (isDigit(c)) {
      while (isDigit(text[p])) p++;
      if (text[p] === "." && isDigit(text[p + 1])) {
        p++;
        while (isDigit(text[p])) p++;
      }
      if (text[p] === "e" || text[p] === "E") {
        let q = p + 1;
        if (text[q] === "+" || text[q] === "-") q++;
        if (isDigit(text[q])) {
          while (isDigit(text[q])) q++;
          p = q;
        }
      }
      if (p < text.length && isIdentPart(text[p] as string)) {
        throw new ExprError("KILN_EXPR_SYNTAX", `Malformed number "${text.slice(start, p + 1)}".`, {
          offset: start,
          length: p + 1 - start,
        });
      }
      this.pos = p;
      return { kind: "num", text: text.slice(start, p), num: Number(text.slice(start, p)), start, end: p };
    }
    if (isIdentStart(c)) {
      // As in HCL, a name may contain dashes (`var.vm-name`); subtraction needs spaces: `a - b`.
      for (;;) {
        const d = text[p];
        if (d !== undefined && isIdentPart(d)) p++;
        else if (d === "-" && text[p + 1] !== undefined && isIdentPart(text[p + 1] as string)) p += 2;
        else break;
      }
      this.pos = p;
      return { kind: "ident", text: text.slice(start, p), num: 0, start, end: p };
    }
    if (c === '"' || c === "'") {
      return this.lexString(c, start);
    }
    const three = text.slice(p, p + 3);
    if (PUNCT3.includes(three)) {
      this.pos = p + 3;
      return { kind: "punct", text: three, num: 0, start, end: p + 3 };
    }
    const two = text.slice(p, p + 2);
    if (PUNCT2.includes(two)) {
      this.pos = p + 2;
      return { kind: "punct", text: two, num: 0, start, end: p + 2 };
    }
    if (PUNCT1.includes(c)) {
      this.pos = p + 1;
      return { kind: "punct", text: c, num: 0, start, end: p + 1 };
    }
    let hint: string | undefined;
    if (c === "&" || c === "|") hint = `Write \`${c}${c}\`.`;
    else if (c === "`") hint = "Strings are quoted with ' or \".";
    throw new ExprError("KILN_EXPR_SYNTAX", `Unexpected character "${c}" in expression.`, {
      offset: start,
      length: 1,
      ...(hint ? { hint } : {}),
    });
  }

  private lexString(quote: string, start: number): Token {
    const text = this.text;
    let p = start + 1;
    let out = "";
    /** Text and `${ … }` parts of a double-quoted string (HCL's interpolation); none in '…'. */
    const parts: Array<string | Ast> = [];
    for (;;) {
      const c = text[p];
      if (c === undefined) {
        throw new ExprError("KILN_EXPR_SYNTAX", "Unterminated string literal.", {
          offset: start,
          length: 1,
          hint: `Close the string with ${quote}.`,
        });
      }
      if (c === quote) break;
      if (quote === '"' && c === "$" && text[p + 1] === "$" && text[p + 2] === "{") {
        out += "${";
        p += 3;
        continue;
      }
      if (quote === '"' && c === "$" && text[p + 1] === "{") {
        if (this.nesting >= MAX_INTERPOLATION_DEPTH) {
          throw new ExprError(
            "KILN_EXPR_SYNTAX",
            `Interpolations nest more than ${MAX_INTERPOLATION_DEPTH} deep.`,
            {
              offset: p,
              length: 2,
            },
          );
        }
        const inner = new Parser(text, p + 2, p, "}", this.nesting + 1);
        const ast = inner.parseWhole();
        if (out !== "") parts.push(out);
        out = "";
        parts.push(ast);
        p = inner.endOfExpression();
        continue;
      }
      if (c === "\\") {
        const e = text[p + 1];
        const map: Record<string, string> = { n: "\n", t: "\t", r: "\r", "\\": "\\", '"': '"', "'": "'" };
        const v = e === undefined ? undefined : map[e];
        if (v === undefined) {
          throw new ExprError("KILN_EXPR_SYNTAX", `Unknown escape "\\${e ?? ""}" in string literal.`, {
            offset: p,
            length: e === undefined ? 1 : 2,
            hint: "The escapes are \\n \\t \\r \\\\ \\\" and \\'.",
          });
        }
        out += v;
        p += 2;
        continue;
      }
      out += c;
      p++;
    }
    this.pos = p + 1;
    if (parts.length === 0) return { kind: "str", text: out, num: 0, start, end: p + 1 };
    if (out !== "") parts.push(out);
    return { kind: "str", text: "", num: 0, start, end: p + 1, parts };
  }

  next(): Token {
    const t = this.tok;
    this.tok = this.lex();
    return t;
  }

  isPunct(text: string): boolean {
    return this.tok.kind === "punct" && this.tok.text === text;
  }

  private expectPunct(text: string, what: string): Token {
    if (!this.isPunct(text)) {
      throw this.error(`Expected \`${text}\` ${what}, found ${describe(this.tok)}.`, this.tok.start);
    }
    return this.next();
  }

  // ---- parser ----

  private enter(offset: number): void {
    if (++this.depth > MAX_DEPTH) {
      throw this.error(
        `Expression is nested more than ${MAX_DEPTH} levels deep.`,
        offset,
        1,
        "Simplify the expression.",
      );
    }
  }

  private finish<T extends Ast>(node: T, ...kids: Ast[]): T {
    let d = 0;
    for (const k of kids) d = Math.max(d, this.depths.get(k) ?? 1);
    d += 1;
    // A flat chain `a + b + c + …` is evaluated as a loop (see evaluate.ts): its left spine
    // adds no depth, only what its operands nest does.
    if (node.type === "binary" && node.left.type === "binary") {
      d = Math.max(this.depths.get(node.left) ?? 1, (this.depths.get(node.right) ?? 1) + 1);
    }
    if (d > MAX_DEPTH) {
      throw this.error(
        `Expression is nested more than ${MAX_DEPTH} levels deep.`,
        node.start,
        node.end - node.start,
        "Simplify the expression.",
      );
    }
    this.depths.set(node, d);
    return node;
  }

  parseExpr(): Ast {
    this.enter(this.tok.start);
    try {
      const test = this.parseBinary(0);
      if (!this.isPunct("?")) return test;
      this.next();
      const consequent = this.parseExpr();
      this.expectPunct(":", "in `cond ? a : b`");
      const alternate = this.parseExpr();
      return this.finish(
        { type: "conditional", test, consequent, alternate, start: test.start, end: alternate.end },
        test,
        consequent,
        alternate,
      );
    } finally {
      this.depth--;
    }
  }

  private parseBinary(level: number): Ast {
    const ops = BINARY_LEVELS[level];
    if (ops === undefined) return this.parseUnary();
    let left = this.parseBinary(level + 1);
    while (this.tok.kind === "punct" && (ops as readonly string[]).includes(this.tok.text)) {
      const opTok = this.next();
      const right = this.parseBinary(level + 1);
      left = this.finish(
        {
          type: "binary",
          op: opTok.text as BinaryOp,
          opStart: opTok.start,
          left,
          right,
          start: left.start,
          end: right.end,
        },
        left,
        right,
      );
    }
    return left;
  }

  private parseUnary(): Ast {
    if (this.isPunct("!") || this.isPunct("-")) {
      const opTok = this.next();
      this.enter(opTok.start);
      try {
        const operand = this.parseUnary();
        return this.finish(
          { type: "unary", op: opTok.text as "!" | "-", operand, start: opTok.start, end: operand.end },
          operand,
        );
      } finally {
        this.depth--;
      }
    }
    return this.parsePostfix();
  }

  private parsePostfix(): Ast {
    let node = this.parsePrimary();
    for (;;) {
      if (this.isPunct(".")) {
        this.next();
        const name = this.tok;
        if (name.kind !== "ident") {
          throw this.error(
            `Expected a name after \`.\`, found ${describe(name)}.`,
            name.start,
            undefined,
            name.kind === "num" ? "Index lists with brackets: list[0]." : undefined,
          );
        }
        this.next();
        node = this.finish(
          {
            type: "member",
            object: node,
            name: name.text,
            nameStart: name.start,
            start: node.start,
            end: name.end,
          },
          node,
        );
      } else if (this.isPunct("[")) {
        this.next();
        const index = this.parseExpr();
        const close = this.expectPunct("]", "to close the index");
        node = this.finish(
          { type: "index", object: node, index, start: node.start, end: close.end },
          node,
          index,
        );
      } else {
        return node;
      }
    }
  }

  private parsePrimary(): Ast {
    const t = this.tok;
    if (t.kind === "num") {
      this.next();
      if (!Number.isFinite(t.num))
        throw this.error(`Number ${t.text} is too large.`, t.start, t.end - t.start);
      return this.finish({ type: "literal", value: t.num, start: t.start, end: t.end });
    }
    if (t.kind === "str") {
      this.next();
      if (t.parts)
        return this.finish(
          { type: "template", parts: t.parts, start: t.start, end: t.end },
          ...t.parts.filter((x): x is Ast => typeof x !== "string"),
        );
      return this.finish({ type: "literal", value: t.text, start: t.start, end: t.end });
    }
    if (t.kind === "ident") {
      this.next();
      if (t.text === "true" || t.text === "false") {
        return this.finish({ type: "literal", value: t.text === "true", start: t.start, end: t.end });
      }
      if (t.text === "null") return this.finish({ type: "literal", value: null, start: t.start, end: t.end });
      if (this.isPunct("(")) return this.parseCall(t);
      return this.finish({ type: "name", name: t.text, start: t.start, end: t.end });
    }
    if (t.kind === "punct") {
      if (t.text === "(") {
        this.next();
        const inner = this.parseExpr();
        this.expectPunct(")", "to close `(`");
        return inner;
      }
      if (t.text === "[") return this.parseList();
      if (t.text === "{") return this.parseMap();
    }
    if (this.isClose()) {
      throw this.error(`Expected an expression before \`${this.closer}\`.`, t.start, this.closer.length);
    }
    throw this.error(`Expected an expression, found ${describe(t)}.`, t.start);
  }

  private parseCall(name: Token): Ast {
    this.next(); // (
    {
      const args: Ast[] = [];
      while (!this.isPunct(")")) {
        args.push(this.parseExpr());
        if (this.isPunct(",")) this.next();
        else if (!this.isPunct(")")) {
          throw this.error(
            `Expected \`,\` or \`)\` in the arguments of ${name.text}(), found ${describe(this.tok)}.`,
            this.tok.start,
          );
        }
      }
      const close = this.next();
      return this.finish(
        { type: "call", callee: name.text, calleeEnd: name.end, args, start: name.start, end: close.end },
        ...args,
      );
    }
  }

  /** After `[` or `{`: the current token is `for` used as the keyword (a name follows it). */
  private atFor(): boolean {
    if (!this.isWord("for")) return false;
    const save = { pos: this.pos, tok: this.tok };
    this.next();
    const isFor = this.tok.kind === "ident";
    this.pos = save.pos;
    this.tok = save.tok;
    return isFor;
  }

  /** `[for …]` or `{for …}`, after the opening bracket. */
  private parseFor(open: Token, kind: "list" | "map"): Ast {
    const closer = kind === "list" ? "]" : "}";
    this.next(); // for
    const header = this.parseForHeader();
    this.expectPunct(":", "after the collection of `for`");
    let key: Ast | undefined;
    let value = this.parseExpr();
    let group = false;
    if (kind === "map") {
      this.expectPunct("=>", "between the key and the value of `{for …: key => value}`");
      key = value;
      value = this.parseExpr();
      if (this.isPunct("...")) {
        this.next();
        group = true;
      }
    }
    let cond: Ast | undefined;
    if (this.isWord("if")) {
      this.next();
      cond = this.parseExpr();
    }
    if (!this.isPunct(closer)) {
      throw this.error(
        `Expected \`${closer}\` to end the \`for\` expression, found ${describe(this.tok)}.`,
        this.tok.start,
        undefined,
        kind === "list" ? "Write [for x in list: value if condition]." : "Write {for k, v in map: k => v}.",
      );
    }
    const close = this.next();
    const kids = [header.collection, ...(key ? [key] : []), value, ...(cond ? [cond] : [])];
    return this.finish(
      {
        type: "for",
        kind,
        ...(header.keyVar !== undefined ? { keyVar: header.keyVar } : {}),
        valueVar: header.valueVar,
        collection: header.collection,
        ...(key ? { key } : {}),
        value,
        ...(cond ? { cond } : {}),
        group,
        start: open.start,
        end: close.end,
      },
      ...kids,
    );
  }

  private parseList(): Ast {
    const open = this.next();
    if (this.atFor()) return this.parseFor(open, "list");
    {
      const items: Ast[] = [];
      while (!this.isPunct("]")) {
        items.push(this.parseExpr());
        if (this.isPunct(",")) this.next();
        else if (!this.isPunct("]")) {
          throw this.error(
            `Expected \`,\` or \`]\` in the list, found ${describe(this.tok)}.`,
            this.tok.start,
          );
        }
      }
      const close = this.next();
      return this.finish({ type: "list", items, start: open.start, end: close.end }, ...items);
    }
  }

  private parseMap(): Ast {
    const open = this.next();
    if (this.atFor()) return this.parseFor(open, "map");
    {
      const entries: MapEntry[] = [];
      const seen = new Set<string>();
      while (!this.isPunct("}")) {
        const k = this.tok;
        if (k.kind !== "ident" && k.kind !== "str") {
          throw this.error(`Expected a map key (a name or a quoted string), found ${describe(k)}.`, k.start);
        }
        if (k.text === "__proto__" || k.text === "constructor" || k.text === "prototype") {
          throw this.error(`"${k.text}" cannot be used as a map key.`, k.start, k.end - k.start);
        }
        if (seen.has(k.text)) {
          throw this.error(
            `Key "${k.text}" appears twice in the map.`,
            k.start,
            k.end - k.start,
            "Each key may appear once; remove or rename one.",
          );
        }
        seen.add(k.text);
        this.next();
        if (this.isPunct("=") || this.isPunct(":")) this.next();
        else {
          throw this.error(
            `Expected \`=\` or \`:\` after map key "${k.text}", found ${describe(this.tok)}.`,
            this.tok.start,
          );
        }
        const value = this.parseExpr();
        entries.push({ key: k.text, keyStart: k.start, keyEnd: k.end, value });
        if (this.isPunct(",")) this.next();
        else if (!this.isPunct("}")) {
          throw this.error(
            `Expected \`,\` or \`}\` in the map, found ${describe(this.tok)}.`,
            this.tok.start,
          );
        }
      }
      const close = this.next();
      return this.finish(
        { type: "map", entries, start: open.start, end: close.end },
        ...entries.map((e) => e.value),
      );
    }
  }
}
