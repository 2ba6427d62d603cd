/** Rendering diagnostics for people: `file:line:column`, the path, what is wrong, a code frame, the hint. */
import type { Diagnostic } from "./errors.js";

export interface FormatOptions {
  /** File text by file name, for code frames. */
  sources?: Record<string, string>;
  color?: boolean;
  /** Replace these strings (secrets) wherever they appear. */
  redact?: (text: string) => string;
  /**
   * For the text kiln writes (the path and the hint): a redactor that keeps a name of which a
   * secret is only a part (`ssh_password` when the secret is "password"). Default: `redact`.
   */
  redactWords?: (text: string) => string;
  /** A redactor for a message that keeps `file` (a path kiln names) whole. Default: `redact`. */
  keepPaths?: (file: string | undefined) => (text: string) => string;
}

const paint = (on: boolean, code: string, s: string) => (on ? `\u001b[${code}m${s}\u001b[0m` : s);

export function formatDiagnostic(d: Diagnostic, opts: FormatOptions = {}): string {
  const c = opts.color ?? false;
  const r = opts.redact ?? ((t: string) => t);
  const w = opts.redactWords ?? r;
  const where = d.pos
    ? `${d.pos.file}:${d.pos.line}:${d.pos.column}`
    : d.path === "--var" || d.path === "--var-file"
      ? "command line"
      : "kiln";
  const sev = d.severity === "warning" ? paint(c, "33", "warning") : paint(c, "31", "error");
  const path =
    d.path && d.path !== "--var" && d.path !== "--var-file" ? ` ${paint(c, "36", w(d.path))}:` : "";
  // The file's own path is kiln's text: a secret that is also a word of it stays visible there.
  const keepFile = opts.keepPaths?.(d.pos?.file) ?? r;
  const lines = [
    `${paint(c, "1", d.pos ? where : r(where))}: ${sev} ${d.code}${path} ${keepFile(d.message)}`,
  ];
  const text = d.pos ? opts.sources?.[d.pos.file] : undefined;
  if (text && d.pos) {
    const all = text.split(/\r?\n/);
    const ln = d.pos.line;
    const width = String(Math.min(all.length, ln + 1)).length;
    const masked = new Set(d.masked ?? []);
    for (let i = Math.max(1, ln - 1); i <= Math.min(all.length, ln); i++) {
      // A line holding a sensitive value is never shown.
      const body = masked.has(i) ? "***" : (all[i - 1] ?? "").replace(/\t/g, " ");
      lines.push(
        r(`  ${String(i).padStart(width)} | ${body.length > 160 ? `${body.slice(0, 157)}...` : body}`),
      );
    }
    lines.push(`  ${" ".repeat(width)} | ${" ".repeat(Math.max(0, d.pos.column - 1))}${paint(c, "31", "^")}`);
  }
  if (d.hint) lines.push(`  ${paint(c, "32", "hint:")} ${w(d.hint)}`);
  return lines.join("\n");
}

export function formatDiagnostics(list: Diagnostic[], opts: FormatOptions = {}): string {
  return list.map((d) => formatDiagnostic(d, opts)).join("\n\n");
}
