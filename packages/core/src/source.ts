/**
 * Reading a YAML file into a document that keeps source positions, with every malformed-input
 * case (size, encoding, tabs, duplicate keys, alias bombs, several documents, tags) turned into a
 * diagnostic instead of a hang or a stack trace.
 */
import { readFileSync, statSync } from "node:fs";
import {
  type Document,
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseAllDocuments,
  type YAMLError,
} from "yaml";
import { type Diagnostic, diagnostic, KilnError, type SourcePosition } from "./errors.js";

/** Largest build or variables file kiln reads. */
export const MAX_FILE_BYTES = 2 * 1024 * 1024;
/** Aliases a file may expand; enough for any real file, far too few for a "billion laughs". */
export const MAX_ALIAS_COUNT = 100;

export type PathSegment = string | number;

/** A parsed file: its text, YAML document, plain value, and a way to find positions. */
export interface SourceFile {
  file: string;
  text: string;
  doc: Document.Parsed;
  value: unknown;
  lines: LineCounter;
}

/** Read and parse `file`. Throws a KilnError with every diagnostic when it cannot. */
export function loadYamlFile(file: string): SourceFile {
  let size: number;
  try {
    size = statSync(file).size;
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    throw new KilnError(
      "KILN_FILE_NOT_FOUND",
      code === "EISDIR" ? `${file} is a directory, not a build file` : `cannot read ${file}: ${code === "ENOENT" ? "no such file" : String(code)}`,
      { cause },
    );
  }
  if (size > MAX_FILE_BYTES) {
    throw fileError("KILN_FILE_TOO_LARGE", file, `${file} is ${size} bytes; kiln reads files of at most ${MAX_FILE_BYTES} bytes`);
  }
  const bytes = readFileSync(file);
  return parseYaml(bytes, file);
}

function fileError(code: string, file: string, message: string, pos?: SourcePosition): KilnError {
  const d = diagnostic(code, message, { pos: pos ?? { file, line: 1, column: 1 } });
  return new KilnError(code, message, { diagnostics: [d] });
}

/** Decode UTF-8 strictly, reporting the line and column of the first bad byte. */
export function decodeUtf8(bytes: Uint8Array, file: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    let ok = 0;
    // Find the longest valid prefix to point at the bad byte.
    let lo = 0;
    let hi = bytes.length;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      try {
        new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(0, mid), { stream: true });
        lo = mid;
      } catch {
        hi = mid - 1;
      }
    }
    ok = lo;
    const prefix = new TextDecoder("utf-8").decode(bytes.subarray(0, ok));
    const lines = prefix.split("\n");
    const pos = { file, line: lines.length, column: (lines[lines.length - 1] ?? "").length + 1 };
    throw fileError("KILN_FILE_ENCODING", file, `${file} is not valid UTF-8 (bad byte at offset ${ok})`, pos);
  }
}

const YAML_CODE_MAP: Record<string, string> = {
  DUPLICATE_KEY: "KILN_YAML_DUPLICATE_KEY",
  TAB_AS_INDENT: "KILN_YAML_TAB",
  TAG_RESOLVE_FAILED: "KILN_YAML_TAG",
};

/** Parse YAML text (or bytes) into a SourceFile, or throw a KilnError carrying all diagnostics. */
export function parseYaml(input: string | Uint8Array, file: string): SourceFile {
  let text = typeof input === "string" ? input : decodeUtf8(input, file);
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.length > MAX_FILE_BYTES) {
    throw fileError("KILN_FILE_TOO_LARGE", file, `${file} is larger than ${MAX_FILE_BYTES} bytes`);
  }
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, {
    lineCounter: lines,
    prettyErrors: false,
    uniqueKeys: true,
    strict: true,
    version: "1.2",
    schema: "core",
    merge: false,
    keepSourceTokens: false,
  });
  const posAt = (offset: number): SourcePosition => {
    const lp = lines.linePos(offset);
    return { file, line: lp.line, column: lp.col };
  };
  const list = Array.isArray(docs) ? docs : [];
  const diags: Diagnostic[] = [];
  const fromYamlError = (e: YAMLError, severity: "error" | "warning") => {
    const code = YAML_CODE_MAP[e.code] ?? "KILN_YAML_SYNTAX";
    if (severity === "warning" && code !== "KILN_YAML_TAG") return;
    let message = e.message.split("\n")[0] ?? e.message;
    message = message.replace(/ at line \d+, column \d+:?$/, "");
    if (code === "KILN_YAML_TAB") message = "a tab character is used for indentation";
    if (code === "KILN_YAML_TAG") message = `unsupported tag: ${message}`;
    diags.push(diagnostic(code, message, { pos: posAt(e.pos[0]) }));
  };
  if (list.length === 0) {
    // parseAllDocuments returns an EmptyStream for an empty file.
    throw fileError("KILN_HEADER", file, `${file} is empty; a build file starts with \`kiln: 1\``);
  }
  for (const d of list) {
    for (const e of d.errors) fromYamlError(e, "error");
    for (const w of d.warnings) fromYamlError(w, "warning");
  }
  if (list.length > 1) {
    const second = list[1];
    const offset = second?.range?.[0] ?? 0;
    diags.push(
      diagnostic("KILN_YAML_MULTI_DOCUMENT", `${file} holds ${list.length} YAML documents; a build file is one`, {
        pos: posAt(Math.max(0, text.lastIndexOf("---", offset) >= 0 ? text.lastIndexOf("---", offset) : offset)),
      }),
    );
  }
  const doc = list[0] as Document.Parsed;
  if (diags.length === 0) {
    const aliasCount = countAliases(doc.contents);
    if (aliasCount > MAX_ALIAS_COUNT) {
      diags.push(
        diagnostic("KILN_YAML_ALIAS_LIMIT", `the file uses ${aliasCount} YAML aliases; at most ${MAX_ALIAS_COUNT} are allowed`, {
          pos: posAt(firstAliasOffset(doc.contents) ?? 0),
        }),
      );
    }
  }
  if (diags.length > 0) {
    const sorted = dedupe(diags);
    throw new KilnError(sorted[0]?.code ?? "KILN_YAML_SYNTAX", `${file}: YAML is not valid`, { diagnostics: sorted });
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (cause) {
    const message = cause instanceof Error ? cause.message : String(cause);
    const code = /alias/i.test(message) ? "KILN_YAML_ALIAS_LIMIT" : "KILN_YAML_SYNTAX";
    throw new KilnError(code, `${file}: ${message}`, {
      cause,
      diagnostics: [diagnostic(code, code === "KILN_YAML_ALIAS_LIMIT" ? "YAML aliases expand to too much data" : message, { pos: posAt(firstAliasOffset(doc.contents) ?? 0) })],
    });
  }
  return { file, text, doc, value, lines };
}

function dedupe(list: Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  const out: Diagnostic[] = [];
  for (const d of list) {
    const key = `${d.pos?.line}:${d.pos?.column}:${d.code}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(d);
  }
  return out.sort((a, b) => (a.pos?.line ?? 0) - (b.pos?.line ?? 0) || (a.pos?.column ?? 0) - (b.pos?.column ?? 0));
}

function walk(node: unknown, visit: (n: unknown) => boolean | undefined): void {
  // Iterative to survive very deep nesting without a stack overflow.
  const stack: unknown[] = [node];
  while (stack.length > 0) {
    const n = stack.pop();
    if (visit(n) === false) return;
    if (isMap(n) || isSeq(n)) {
      for (let i = n.items.length - 1; i >= 0; i--) stack.push(n.items[i]);
    } else if (isPair(n)) {
      stack.push(n.value, n.key);
    }
  }
}

function countAliases(node: unknown): number {
  let count = 0;
  walk(node, (n) => {
    if (isAlias(n)) count++;
    return undefined;
  });
  return count;
}

function firstAliasOffset(node: unknown): number | undefined {
  let found: number | undefined;
  walk(node, (n) => {
    if (isAlias(n)) {
      found = n.range?.[0];
      return false;
    }
    return undefined;
  });
  return found;
}

/** The key node and value node at `path`, as far as the path can be followed. */
export function nodeAt(doc: Document, path: readonly PathSegment[]): { key?: Node; value?: Node; depth: number } {
  let current: unknown = doc.contents;
  let key: Node | undefined;
  let depth = 0;
  for (const seg of path) {
    if (isMap(current)) {
      const pair = current.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) break;
      key = pair.key as Node;
      current = pair.value;
    } else if (isSeq(current) && typeof seg === "number") {
      const item = current.items[seg];
      if (item === undefined) break;
      key = undefined;
      current = item;
    } else {
      break;
    }
    depth++;
  }
  return { ...(key ? { key } : {}), ...(current ? { value: current as Node } : {}), depth };
}

/**
 * Position of the value at `path`; with `at: "key"` the position of its key. When the path
 * does not exist (a missing key), the position of the deepest existing parent.
 */
export function positionOf(src: SourceFile, path: readonly PathSegment[], at: "key" | "value" = "value"): SourcePosition {
  const found = nodeAt(src.doc, path);
  const node = at === "key" && found.key && found.depth === path.length ? found.key : (found.value ?? found.key);
  const offset = node?.range?.[0] ?? 0;
  const lp = src.lines.linePos(offset);
  return { file: src.file, line: lp.line, column: lp.col };
}

/** Position of a character offset inside the scalar at `path` (for expressions in strings). */
export function positionInScalar(src: SourceFile, path: readonly PathSegment[], offset: number): SourcePosition {
  const found = nodeAt(src.doc, path);
  const node = found.depth === path.length ? found.value : undefined;
  if (!node || !isScalar(node) || !node.range) return positionOf(src, path);
  const start = node.range[0];
  const raw = src.text.slice(start, node.range[1]);
  const quote = node.type === "QUOTE_DOUBLE" || node.type === "QUOTE_SINGLE" ? 1 : 0;
  const value = String(node.value);
  // Exact only when the source spells the value verbatim (single line, no escapes).
  const exact = raw.slice(quote, quote + value.length) === value;
  const lp = src.lines.linePos(exact ? start + quote + offset : start);
  return { file: src.file, line: lp.line, column: lp.col };
}

/** `sources.ubuntu.boot_command[0]` */
export function formatPath(path: readonly PathSegment[]): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else if (/^[A-Za-z_][\w-]*$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}
