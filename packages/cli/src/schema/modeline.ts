/**
 * yaml-language-server's modeline: a comment `# yaml-language-server: $schema=<url or path>` in
 * a YAML file names the schema that file is checked with (a relative path is relative to the
 * file). Pure text edits, so the rest of the file, comments and all, stays as written.
 */

const MODELINE = /^#\s*yaml-language-server\s*:.*?\$schema=(\S*)/;

export interface Modeline {
  /** 0-based line of the modeline. */
  line: number;
  /** The schema it names. */
  schema: string;
}

/** The first modeline of `text`, if any. */
export function findModeline(text: string): Modeline | undefined {
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const m = MODELINE.exec((lines[i] ?? "").replace(/^\uFEFF/, "").trimEnd());
    if (m) return { line: i, schema: m[1] ?? "" };
  }
  return undefined;
}

/** Whether a modeline's schema is one of kiln's (written by kiln, the shipped one, an older URL). */
export function isKilnSchema(schema: string): boolean {
  return (
    /(^|\/)\.kiln\/schema\.json$/.test(schema) ||
    /@kiln\/(cli|core)(@[^/]*)?\/schema\.json$/.test(schema) ||
    /(^|\/)kiln\.schema\.json$/.test(schema)
  );
}

export type ModelineChange =
  | { kind: "added"; text: string }
  | { kind: "replaced"; text: string; previous: string }
  | { kind: "unchanged"; text: string }
  | { kind: "foreign"; text: string; previous: string };

/**
 * `text` with a modeline naming `schema`: a kiln modeline is updated in place, else one is added
 * as the first line (after a byte-order mark) followed by a blank line, as `kiln fmt` writes the
 * file's header. A modeline naming some other schema is kept unless `replaceForeign`.
 */
export function setModeline(text: string, schema: string, replaceForeign = false): ModelineChange {
  const line = `# yaml-language-server: $schema=${schema}`;
  const found = findModeline(text);
  if (!found) {
    const bom = text.startsWith("\uFEFF") ? "\uFEFF" : "";
    const eol = text.includes("\r\n") ? "\r\n" : "\n";
    const rest = text.slice(bom.length);
    const blank = /^[ \t]*\r?\n/.test(rest) ? "" : eol;
    return { kind: "added", text: `${bom}${line}${eol}${blank}${rest}` };
  }
  if (found.schema === schema) return { kind: "unchanged", text };
  if (!replaceForeign && !isKilnSchema(found.schema))
    return { kind: "foreign", text, previous: found.schema };
  const lines = text.split("\n");
  const old = lines[found.line] ?? "";
  const bom = found.line === 0 && old.startsWith("\uFEFF") ? "\uFEFF" : "";
  lines[found.line] = `${bom}${line}${old.endsWith("\r") ? "\r" : ""}`;
  return { kind: "replaced", text: lines.join("\n"), previous: found.schema };
}
