/**
 * Packer's Go-template placeholders in text — `{{ .HTTPIP }}`, `{{user `x`}}`, `{{env `X`}}`,
 * `{{timestamp}}`, `{{isotime "2006"}}`, `{{uuid}}`, pipes (`{{ user "x" | upper }}`) — as kiln
 * expressions. `{{ .Field }}` names the importer does not know (a component's own templates, such as
 * execute_command's `{{.Path}}`) are kept as text, as kiln's components read them.
 */
import { goLayoutToFormatdate } from "./timefmt.js";

export type Piece = { t: "text"; text: string } | { t: "expr"; expr: string };

export class TemplateProblem extends Error {
  override name = "TemplateProblem";
}

export interface GoTemplateEnv {
  /** kiln expression for `{{ .Field }}`, or undefined to keep the placeholder as text. */
  field(name: string): string | undefined;
  /** Note a translation whose behaviour differs a little from Packer's. */
  note(message: string): void;
  /** kiln expression for `{{user `name`}}`. */
  variable?(name: string): string | undefined;
}

type Tok =
  | { k: "field"; v: string }
  | { k: "str"; v: string }
  | { k: "num"; v: string }
  | { k: "ident"; v: string }
  | { k: "p"; v: string };

function lex(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i] as string;
    if (/\s/.test(c)) {
      i++;
    } else if (c === ".") {
      const m = /^\.([A-Za-z_][A-Za-z0-9_]*)?/.exec(src.slice(i)) as RegExpExecArray;
      out.push({ k: "field", v: m[1] ?? "" });
      i += m[0].length;
    } else if (c === '"') {
      let j = i + 1;
      let s = "";
      while (j < src.length && src[j] !== '"') {
        if (src[j] === "\\" && j + 1 < src.length) {
          const e = src[j + 1] as string;
          s += ({ n: "\n", t: "\t", r: "\r", '"': '"', "\\": "\\" } as Record<string, string>)[e] ?? e;
          j += 2;
        } else s += src[j++];
      }
      if (j >= src.length) throw new TemplateProblem("an unterminated string in a template placeholder");
      out.push({ k: "str", v: s });
      i = j + 1;
    } else if (c === "`") {
      const j = src.indexOf("`", i + 1);
      if (j < 0) throw new TemplateProblem("an unterminated `string` in a template placeholder");
      out.push({ k: "str", v: src.slice(i + 1, j) });
      i = j + 1;
    } else if (/[0-9-]/.test(c)) {
      const m = /^-?[0-9]+(\.[0-9]+)?/.exec(src.slice(i));
      if (!m) throw new TemplateProblem(`unexpected "${c}" in a template placeholder`);
      out.push({ k: "num", v: m[0] });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i)) as RegExpExecArray;
      out.push({ k: "ident", v: m[0] });
      i += m[0].length;
    } else if (c === "(" || c === ")" || c === "|") {
      out.push({ k: "p", v: c });
      i++;
    } else throw new TemplateProblem(`unexpected "${c}" in a template placeholder`);
  }
  return out;
}

export const quote = (s: string): string =>
  `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n").replace(/\t/g, "\\t").replace(/\r/g, "\\r")}"`;

const IDENT = /^[A-Za-z_][A-Za-z0-9_-]*$/;
const member = (root: string, name: string): string =>
  IDENT.test(name) ? `${root}.${name}` : `${root}[${quote(name)}]`;

/** Go template operands and calls → a kiln expression. Undefined: keep the whole placeholder as text. */
class PipelineReader {
  private i = 0;
  keep = false;
  constructor(
    private readonly toks: Tok[],
    private readonly env: GoTemplateEnv,
  ) {}

  pipeline(): string {
    let value = this.command(undefined);
    while (this.peek()?.k === "p" && this.peek()?.v === "|") {
      this.i++;
      value = this.command(value);
    }
    return value;
  }

  private peek(): Tok | undefined {
    return this.toks[this.i];
  }

  private command(piped: string | undefined): string {
    const head = this.toks[this.i];
    if (!head) throw new TemplateProblem("an empty template placeholder");
    if (head.k === "ident") {
      this.i++;
      const args: string[] = [];
      while (
        this.i < this.toks.length &&
        !(this.peek()?.k === "p" && (this.peek()?.v === "|" || this.peek()?.v === ")"))
      )
        args.push(this.operand());
      if (piped !== undefined) args.push(piped);
      return this.call(head.v, args);
    }
    const v = this.operand();
    if (piped !== undefined) throw new TemplateProblem("a pipe into a value that is not a function");
    return v;
  }

  private operand(): string {
    const t = this.toks[this.i++];
    if (!t) throw new TemplateProblem("a template placeholder ends too early");
    switch (t.k) {
      case "str":
        return quote(t.v);
      case "num":
        return t.v;
      case "field": {
        const e = this.env.field(t.v);
        if (e === undefined) {
          this.keep = true;
          return "";
        }
        return e;
      }
      case "ident":
        return this.call(t.v, []);
      case "p":
        if (t.v === "(") {
          const inner = this.pipeline();
          const close = this.toks[this.i++];
          if (close?.k !== "p" || close.v !== ")")
            throw new TemplateProblem("a missing ) in a template placeholder");
          return inner;
        }
        throw new TemplateProblem(`unexpected "${t.v}" in a template placeholder`);
    }
  }

  private call(name: string, args: string[]): string {
    const lit = (a: string | undefined): string | undefined => {
      if (a === undefined || !a.startsWith('"')) return undefined;
      try {
        return JSON.parse(a) as string;
      } catch {
        return undefined;
      }
    };
    const need = (n: number) => {
      if (args.length !== n)
        throw new TemplateProblem(
          `{{ ${name} }} takes ${n} argument${n === 1 ? "" : "s"}, not ${args.length}`,
        );
    };
    switch (name) {
      case "user": {
        need(1);
        const v = lit(args[0]);
        if (v === undefined) return `var[${args[0]}]`;
        return this.env.variable?.(v) ?? member("var", v);
      }
      case "env": {
        need(1);
        return `env(${args[0]})`;
      }
      case "timestamp":
        need(0);
        this.env.note(
          '{{timestamp}} was Unix seconds; kiln writes formatdate("YYYYMMDDhhmmss", timestamp()) (UTC, sortable, as unique)',
        );
        return 'formatdate("YYYYMMDDhhmmss", timestamp())';
      case "isotime": {
        if (args.length === 0) return "timestamp()";
        need(1);
        const layout = lit(args[0]);
        const spec = layout === undefined ? undefined : goLayoutToFormatdate(layout);
        if (spec === undefined)
          throw new TemplateProblem(`{{isotime ${args[0]}}}: the layout has no formatdate() equivalent`);
        return `formatdate(${quote(spec)}, timestamp())`;
      }
      case "uuid":
        need(0);
        return "uuidv4()";
      case "upper":
      case "lower":
        need(1);
        return `${name}(${args[0]})`;
      case "split":
        // {{ split string separator index }}
        need(3);
        return `split(${args[1]}, ${args[0]})[${args[2]}]`;
      case "replace_all":
        // {{ replace_all old new string }}
        need(3);
        return `replace(${args[2]}, ${args[0]}, ${args[1]})`;
      case "replace":
        // {{ replace old new n string }}: every occurrence only
        need(4);
        if (args[2] !== "-1")
          throw new TemplateProblem("{{ replace … n … }} with a count other than -1 has no kiln equivalent");
        return `replace(${args[3]}, ${args[0]}, ${args[1]})`;
      // Packer's build name is the builder's (the source's) name, and its type the builder type.
      case "build_name":
        need(0);
        return "source.name";
      case "build_type":
        need(0);
        return "source.type";
      case "template_dir":
        need(0);
        return "path.root";
      case "pwd":
        need(0);
        return "path.cwd";
      case "packer_version":
        need(0);
        return "kiln.version";
      case "clean_resource_name":
        need(1);
        return `regex_replace(lower(${args[0]}), "[^a-z0-9-]", "-")`;
      case "consul_key":
      case "vault":
      case "aws_secretsmanager":
      case "sed":
        throw new TemplateProblem(`{{ ${name} }} has no kiln equivalent (set the value through a variable)`);
      default:
        // Not one of Packer's: someone else's braces (a Jinja or awk text): kept as written.
        this.keep = true;
        return "";
    }
  }
}

/**
 * Split `text` into text and kiln expressions. Placeholders kept as text stay in the text pieces.
 * Throws TemplateProblem for a placeholder with no kiln equivalent.
 */
export function translateGoTemplate(text: string, env: GoTemplateEnv): Piece[] {
  if (!text.includes("{{")) return [{ t: "text", text }];
  const out: Piece[] = [];
  let buf = "";
  let i = 0;
  while (i < text.length) {
    const at = text.indexOf("{{", i);
    if (at < 0) {
      buf += text.slice(i);
      break;
    }
    const close = text.indexOf("}}", at + 2);
    if (close < 0) {
      buf += text.slice(i);
      break;
    }
    let inner = text.slice(at + 2, close);
    let before = text.slice(i, at);
    let trimAfter = false;
    if (inner.startsWith("-") && /\s/.test(inner[1] ?? "")) {
      before = before.replace(/\s+$/, "");
      inner = inner.slice(1);
    }
    if (inner.endsWith("-") && /\s/.test(inner[inner.length - 2] ?? "")) {
      trimAfter = true;
      inner = inner.slice(0, -1);
    }
    let toks: Tok[] | undefined;
    try {
      toks = lex(inner);
    } catch {
      toks = undefined; // not a Go template action: text
    }
    const reader = toks && toks.length > 0 ? new PipelineReader(toks, env) : undefined;
    const expr = reader?.pipeline() ?? "";
    if (!reader || reader.keep) {
      buf += text.slice(i, close + 2);
      i = close + 2;
      continue;
    }
    buf += before;
    if (buf) out.push({ t: "text", text: buf });
    buf = "";
    out.push({ t: "expr", expr });
    i = close + 2;
    if (trimAfter) while (i < text.length && /\s/.test(text[i] as string)) i++;
  }
  if (buf) out.push({ t: "text", text: buf });
  return out;
}
