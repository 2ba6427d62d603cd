// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${` in plain strings is the syntax being parsed.
/**
 * Packer's template files (`*.pkrtpl`, `*.pkrtpl.hcl`) for templatefile(): HCL's template syntax —
 * `${ expr }` interpolations, `%{ if c }…%{ else }…%{ endif }` and `%{ for k, v in coll }…%{ endfor }`
 * directives, `~` strip markers, and `$${` / `%%{` for literal `${` / `%{`. The expressions are
 * kiln's expression language (the same parser, closed by `}` instead of `}}`).
 */
import type { Ast } from "./ast.js";
import { ExprError } from "./errors.js";
import { MAX_DEPTH } from "./limits.js";
import { Parser } from "./parse.js";

export type PkrNode =
  | { t: "text"; value: string }
  | { t: "interp"; ast: Ast }
  | { t: "if"; cond: Ast; then: PkrNode[]; else: PkrNode[] }
  | { t: "for"; keyVar?: string; valueVar: string; collection: Ast; body: PkrNode[] };

/** True for a file name templatefile() renders with Packer's syntax. */
export function isPackerTemplate(file: string): boolean {
  return /\.pkrtpl(\.hcl)?$/i.test(file);
}

type Token =
  | { t: "text"; value: string }
  | { t: "interp"; ast: Ast; stripL: boolean; stripR: boolean }
  | {
      t: "dir";
      word: "if" | "else" | "endif" | "for" | "endfor";
      at: number;
      stripL: boolean;
      stripR: boolean;
      ast?: Ast;
      header?: { keyVar?: string; valueVar: string; collection: Ast };
    };

function syntax(message: string, offset: number, length = 2, hint?: string): ExprError {
  return new ExprError("KILN_EXPR_SYNTAX", message, { offset, length, ...(hint ? { hint } : {}) });
}

function lex(text: string): Token[] {
  const out: Token[] = [];
  let buf = "";
  let i = 0;
  const flush = () => {
    if (buf !== "") out.push({ t: "text", value: buf });
    buf = "";
  };
  while (i < text.length) {
    const c = text[i];
    if ((c === "$" || c === "%") && text[i + 1] === c && text[i + 2] === "{") {
      // `$${` / `%%{`: the doubled sign is the escape for the literal sequence.
      buf += `${c}{`;
      i += 3;
      continue;
    }
    if (!((c === "$" || c === "%") && text[i + 1] === "{")) {
      buf += c;
      i++;
      continue;
    }
    flush();
    const start = i;
    let p = i + 2;
    const stripL = text[p] === "~";
    if (stripL) p++;
    if (c === "$") {
      const parser = new Parser(text, p, start, "}");
      const ast = parser.parseWhole();
      const stripR = parser.closeStrips();
      i = parser.endOfExpression();
      out.push({ t: "interp", ast, stripL, stripR });
      continue;
    }
    const m = /^\s*(if|else|endif|for|endfor)\b/.exec(text.slice(p, p + 40));
    if (!m) {
      throw syntax(
        "Unknown directive after `%{`.",
        start,
        2,
        "The directives are %{ if … }, %{ else }, %{ endif }, %{ for … in … } and %{ endfor }; write %%{ for a literal %{.",
      );
    }
    const word = m[1] as "if" | "else" | "endif" | "for" | "endfor";
    const parser = new Parser(text, p + m[0].length, start, "}");
    let ast: Ast | undefined;
    let header: { keyVar?: string; valueVar: string; collection: Ast } | undefined;
    if (word === "if") ast = parser.parseWhole();
    else if (word === "for") header = parser.parseForHeader();
    const stripR = parser.closeStrips();
    i = parser.endOfExpression();
    out.push({
      t: "dir",
      word,
      at: start,
      stripL,
      stripR,
      ...(ast ? { ast } : {}),
      ...(header ? { header } : {}),
    });
  }
  flush();
  // Strip markers remove the whitespace (newlines included) on their side.
  for (let k = 0; k < out.length; k++) {
    const tok = out[k] as Token;
    if (tok.t === "text") continue;
    const prev = out[k - 1];
    const next = out[k + 1];
    if (tok.stripL && prev?.t === "text") prev.value = prev.value.replace(/\s+$/, "");
    if (tok.stripR && next?.t === "text") next.value = next.value.replace(/^\s+/, "");
  }
  return out;
}

/** Parse a Packer template file's text. Throws ExprError (offsets into `text`). */
export function parsePackerTemplate(text: string): PkrNode[] {
  const tokens = lex(text);
  let k = 0;
  const block = (depth: number, ends: string[]): { nodes: PkrNode[]; end?: string; at: number } => {
    if (depth > MAX_DEPTH) throw syntax(`Directives nest more than ${MAX_DEPTH} deep.`, 0);
    const nodes: PkrNode[] = [];
    while (k < tokens.length) {
      const tok = tokens[k++] as Token;
      if (tok.t === "text") nodes.push({ t: "text", value: tok.value });
      else if (tok.t === "interp") nodes.push({ t: "interp", ast: tok.ast });
      else if (ends.includes(tok.word)) return { nodes, end: tok.word, at: tok.at };
      else if (tok.word === "if") {
        const then = block(depth + 1, ["else", "endif"]);
        let other: PkrNode[] = [];
        if (then.end === "else") {
          const e = block(depth + 1, ["endif"]);
          if (e.end !== "endif") throw syntax("`%{ if }` has no `%{ endif }`.", tok.at);
          other = e.nodes;
        } else if (then.end !== "endif") throw syntax("`%{ if }` has no `%{ endif }`.", tok.at);
        nodes.push({ t: "if", cond: tok.ast as Ast, then: then.nodes, else: other });
      } else if (tok.word === "for") {
        const body = block(depth + 1, ["endfor"]);
        if (body.end !== "endfor") throw syntax("`%{ for }` has no `%{ endfor }`.", tok.at);
        const h = tok.header as { keyVar?: string; valueVar: string; collection: Ast };
        nodes.push({ t: "for", ...h, body: body.nodes });
      } else {
        throw syntax(`\`%{ ${tok.word} }\` without the directive it ends.`, tok.at);
      }
    }
    return { nodes, at: text.length };
  };
  const top = block(0, []);
  return top.nodes;
}
