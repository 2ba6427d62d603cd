/**
 * Reading a YAML file into a document that keeps source positions, with every malformed-input
 * case (size, encoding, tabs, duplicate keys, alias bombs, several documents, tags) turned into a
 * diagnostic instead of a hang or a stack trace.
 */
import { closeSync, constants as fsConstants, fstatSync, openSync, readSync, statSync } from "node:fs";
import {
  type Alias,
  type Document,
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  type Pair,
  Parser,
  parseAllDocuments,
  type Scalar,
  type YAMLError,
  type YAMLMap,
} from "yaml";
import { type Diagnostic, diagnostic, KilnError, type SourcePosition } from "../errors.js";
import { maskedNear, sensitiveLines } from "./sensitive-lines.js";

/** Largest build or variables file kiln reads. */
export const MAX_FILE_BYTES = 2 * 1024 * 1024;
/** Aliases a file may expand; enough for any real file, far too few for a "billion laughs". */
export const MAX_ALIAS_COUNT = 100;

/** How deep flow collections (`[`, `{`) may nest; the YAML parser slows down and runs out of stack far below what a file may hold. */
export const MAX_NESTING = 256;

export type PathSegment = string | number;

/** A parsed file: its text, YAML document, plain value, and a way to find positions. */
export interface SourceFile {
  file: string;
  text: string;
  doc: Document.Parsed;
  value: unknown;
  lines: LineCounter;
}

export interface ParseOptions {
  /** Top-level keys whose values are secret (a variables file's sensitive variables). */
  sensitiveKeys?: ReadonlySet<string>;
}

/** Read and parse `file`. Throws a KilnError with every diagnostic when it cannot. */
export function loadYamlFile(file: string, opts: ParseOptions = {}): SourceFile {
  return parseYaml(readYamlBytes(file), file, opts);
}

/**
 * Read `file`'s bytes, refusing (a KilnError) what is missing, unreadable, not a regular file (a
 * directory, a FIFO that would wait for a writer, `/dev/zero` that never ends) or too large.
 * Never reads more than MAX_FILE_BYTES + 1 bytes, whatever the file claims.
 */
export function readYamlBytes(file: string): Uint8Array {
  const refuse = (message: string, cause?: unknown): KilnError =>
    new KilnError("KILN_FILE_NOT_FOUND", message, cause !== undefined ? { cause } : {});
  let fd: number;
  try {
    // stat first: opening a FIFO would block until something writes to it.
    const st = statSync(file);
    if (st.isDirectory()) throw refuse(`${file} is a directory, not a file`);
    if (!st.isFile())
      throw refuse(`${file} is not a regular file (a device, FIFO or socket); kiln reads regular files only`);
    fd = openSync(file, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  } catch (cause) {
    if (cause instanceof KilnError) throw cause;
    const code = (cause as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT"
        ? "no such file"
        : code === "EACCES" || code === "EPERM"
          ? "permission denied"
          : String(code);
    throw refuse(`cannot read ${file}: ${why}`, cause);
  }
  try {
    if (!fstatSync(fd).isFile()) throw refuse(`${file} is not a regular file; kiln reads regular files only`);
    const buf = Buffer.alloc(MAX_FILE_BYTES + 1);
    let size = 0;
    for (;;) {
      const n = readSync(fd, buf, size, buf.length - size, null);
      if (n === 0) break;
      size += n;
      if (size > MAX_FILE_BYTES) {
        throw fileError(
          "KILN_FILE_TOO_LARGE",
          file,
          `${file} is larger than ${MAX_FILE_BYTES} bytes; kiln reads files of at most ${MAX_FILE_BYTES} bytes`,
        );
      }
    }
    return buf.subarray(0, size);
  } catch (cause) {
    if (cause instanceof KilnError) throw cause;
    throw refuse(`cannot read ${file}: ${String((cause as NodeJS.ErrnoException).code ?? cause)}`, cause);
  } finally {
    closeSync(fd);
  }
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
export function parseYaml(input: string | Uint8Array, file: string, opts: ParseOptions = {}): SourceFile {
  try {
    return parseYamlText(input, file);
  } catch (err) {
    // A file that does not parse: its code frames must not show lines holding secrets.
    if (
      !(err instanceof KilnError) ||
      err.diagnostics.length === 0 ||
      (typeof input !== "string" && input.length > MAX_FILE_BYTES)
    )
      throw err;
    const text = typeof input === "string" ? input : new TextDecoder().decode(input);
    const masked = sensitiveLines(text, opts.sensitiveKeys);
    if (masked.size === 0) throw err;
    for (const d of err.diagnostics) {
      const near = d.pos?.file === file ? maskedNear(masked, d.pos.line) : [];
      if (near.length > 0) d.masked = near;
    }
    throw err;
  }
}

function parseYamlText(input: string | Uint8Array, file: string): SourceFile {
  let text = typeof input === "string" ? input : decodeUtf8(input, file);
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.length > MAX_FILE_BYTES) {
    throw fileError("KILN_FILE_TOO_LARGE", file, `${file} is larger than ${MAX_FILE_BYTES} bytes`);
  }
  const lines = new LineCounter();
  const deep = tooDeep(text);
  if (deep !== undefined) {
    const before = text.slice(0, deep).split("\n");
    const message = `values nest more than ${MAX_NESTING} levels deep`;
    const pos = { file, line: before.length, column: (before[before.length - 1] ?? "").length + 1 };
    throw new KilnError("KILN_YAML_SYNTAX", `${file}: ${message}`, {
      diagnostics: [
        diagnostic("KILN_YAML_SYNTAX", message, {
          pos,
          hint: "A build file needs a few levels of nesting; flatten the value.",
        }),
      ],
    });
  }
  const docs = parseAllDocuments(text, {
    lineCounter: lines,
    prettyErrors: false,
    // Checked below in linear time; the parser's own check is quadratic in a map's size.
    uniqueKeys: false,
    strict: true,
    version: "1.2",
    // `<<: *base` merges a map into another (YAML 1.1's merge key, which Compose files use too).
    merge: true,
    schema: "core",
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
    if (/call stack/i.test(message)) message = "values nest too deeply for the YAML parser";
    if (code === "KILN_YAML_TAG") message = `unsupported tag: ${message}`;
    let offset = e.pos[0];
    let hint: string | undefined;
    const opener =
      e.code === "MISSING_CHAR" || e.code === "BAD_INDENT"
        ? unclosedOpener(text, e, () => (tokens ??= openers(text)))
        : undefined;
    if (opener) {
      // Point at what was opened and never closed, not at the end of the file.
      offset = opener.offset;
      hint = `close the ${opener.char} opened here with ${opener.closer}`;
    } else if (e.code === "BAD_INDENT") {
      // The parser points at the start of the indentation; the key is more use.
      while (text[offset] === " ") offset++;
      hint =
        "indent the entries of one map or list by the same number of spaces, deeper than their parent key";
    }
    if (!hint) {
      // `a: ${{ [for x in xs: x] }}`: the ": " inside the expression ends a plain YAML value.
      const lineStart = text.lastIndexOf("\n", offset - 1) + 1;
      const lineEnd = text.indexOf("\n", offset);
      const line = text.slice(lineStart, lineEnd < 0 ? undefined : lineEnd);
      if (/\$\{\{[^}]*: /.test(line))
        hint = 'an expression holding ": " (a for expression, a map) must be quoted in YAML: "${{ … }}"';
    }
    diags.push(diagnostic(code, message, { pos: posAt(offset), ...(hint ? { hint } : {}) }));
  };
  let tokens: Opener[] | undefined;
  if (list.length === 0) {
    // parseAllDocuments returns an EmptyStream for an empty file.
    throw fileError("KILN_HEADER", file, `${file} is empty; a build file starts with \`kiln: 1\``);
  }
  // One walk over each document: its duplicate keys and its aliases (checked below, in order).
  const scans = list.map((d) => scanDocument(d.contents));
  for (const [i, d] of list.entries()) {
    for (const e of d.errors) fromYamlError(e, "error");
    for (const w of d.warnings) fromYamlError(w, "warning");
    for (const key of scans[i]?.duplicates ?? []) {
      const shown =
        String(key.value).length > 60 ? `${String(key.value).slice(0, 57)}...` : String(key.value);
      diags.push(
        diagnostic(
          "KILN_YAML_DUPLICATE_KEY",
          `the key ${JSON.stringify(shown)} appears more than once in this map`,
          {
            pos: posAt(key.range?.[0] ?? 0),
          },
        ),
      );
    }
  }
  if (list.length > 1) {
    const second = list[1];
    const offset = second?.range?.[0] ?? 0;
    diags.push(
      diagnostic(
        "KILN_YAML_MULTI_DOCUMENT",
        `${file} holds ${list.length} YAML documents; a build file is one`,
        {
          pos: posAt(
            Math.max(0, text.lastIndexOf("---", offset) >= 0 ? text.lastIndexOf("---", offset) : offset),
          ),
        },
      ),
    );
  }
  const doc = list[0] as Document.Parsed;
  const aliases = scans[0]?.aliases ?? [];
  if (diags.length === 0) {
    const unknown = firstUndefinedAlias(doc, aliases);
    if (unknown) {
      diags.push(
        diagnostic("KILN_YAML_SYNTAX", `alias *${unknown.source} refers to no anchor &${unknown.source}`, {
          pos: posAt(unknown.range?.[0] ?? 0),
          hint: `Put &${unknown.source} on a value before using *${unknown.source}, or quote the text if * is meant literally.`,
        }),
      );
    }
  }
  if (diags.length === 0) {
    const aliasCount = aliases.length;
    if (aliasCount > MAX_ALIAS_COUNT) {
      diags.push(
        diagnostic(
          "KILN_YAML_ALIAS_LIMIT",
          `the file uses ${aliasCount} YAML aliases; at most ${MAX_ALIAS_COUNT} are allowed`,
          {
            pos: posAt(firstAliasOffset(doc.contents) ?? 0),
          },
        ),
      );
    }
    const recursive = firstRecursiveAlias(doc, aliases);
    if (recursive) {
      diags.push(
        diagnostic(
          "KILN_YAML_RECURSIVE_ALIAS",
          `alias *${recursive.source} refers to the node that contains it`,
          {
            pos: posAt(recursive.range?.[0] ?? 0),
          },
        ),
      );
    }
  }
  if (diags.length > 0) {
    const sorted = dedupe(diags);
    throw new KilnError(sorted[0]?.code ?? "KILN_YAML_SYNTAX", `${file}: YAML is not valid`, {
      diagnostics: sorted,
    });
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (cause) {
    const message = cause instanceof Error ? cause.message : String(cause);
    const code = /alias/i.test(message) ? "KILN_YAML_ALIAS_LIMIT" : "KILN_YAML_SYNTAX";
    throw new KilnError(code, `${file}: ${message}`, {
      cause,
      diagnostics: [
        diagnostic(
          code,
          code === "KILN_YAML_ALIAS_LIMIT" ? "YAML aliases expand to too much data" : message,
          { pos: posAt(firstAliasOffset(doc.contents) ?? 0) },
        ),
      ],
    });
  }
  return { file, text, doc, value, lines };
}

/**
 * Offset of the bracket that opens the (MAX_NESTING + 1)th level of flow nesting, if any. Only
 * brackets that open or close flow collections count: not those inside quoted strings, comments,
 * block scalars (`|`, `>`) or plain words (`a[1]`). Linear, and it never runs the YAML parser.
 */
export function tooDeep(text: string): number | undefined {
  // Fewer brackets than levels allowed: no nesting can be too deep (most files; no scan needed).
  let brackets = 0;
  for (let at = 0; brackets <= MAX_NESTING; at++) {
    const a = text.indexOf("[", at);
    const b = text.indexOf("{", at);
    if (a < 0 && b < 0) return undefined;
    at = a < 0 ? b : b < 0 ? a : Math.min(a, b);
    brackets++;
  }
  let depth = 0;
  let i = 0;
  const n = text.length;
  /** Indentation of the line that ended with a block scalar indicator; its deeper lines are text. */
  let blockIndent = -1;
  let lineStart = true;
  let indent = 0;
  let prev = "\n"; // the last character that is not a space
  while (i < n) {
    const c = text[i] as string;
    if (lineStart) {
      indent = 0;
      while (text[i + indent] === " ") indent++;
      const rest = text[i + indent];
      if (blockIndent >= 0 && (indent > blockIndent || rest === "\n" || rest === "\r")) {
        const nl = text.indexOf("\n", i);
        i = nl < 0 ? n : nl + 1;
        continue;
      }
      blockIndent = -1;
      lineStart = false;
      i += indent;
      prev = "\n";
      continue;
    }
    if (c === "\n") {
      lineStart = true;
      i++;
      continue;
    }
    if (c === " " || c === "\t" || c === "\r") {
      i++;
      continue;
    }
    const atToken = " \t\n[{,:-?".includes(prev);
    if (c === "#" && (text[i - 1] === " " || text[i - 1] === "\t" || prev === "\n")) {
      const nl = text.indexOf("\n", i);
      i = nl < 0 ? n : nl;
      continue;
    }
    if ((c === '"' || c === "'") && atToken) {
      // Skip the quoted scalar: `\"` escapes in double quotes, `''` in single quotes.
      let j = i + 1;
      while (j < n) {
        const d = text[j];
        if (c === '"' && d === "\\") j += 2;
        else if (d === c) {
          if (c === "'" && text[j + 1] === "'") j += 2;
          else break;
        } else j++;
      }
      i = j + 1;
      prev = c;
      continue;
    }
    if (depth === 0 && (c === "|" || c === ">") && atToken) {
      // A block scalar: the rest of this line is its header, the deeper lines below its text.
      const nl = text.indexOf("\n", i);
      const header = text.slice(i + 1, nl < 0 ? n : nl);
      if (/^[-+0-9]*\s*(#.*)?\r?$/.test(header)) {
        blockIndent = indent;
        i = nl < 0 ? n : nl;
        continue;
      }
    }
    if ((c === "[" || c === "{") && (atToken || depth > 0)) {
      if (++depth > MAX_NESTING) return i;
    } else if ((c === "]" || c === "}") && depth > 0) {
      depth--;
    } else if (depth === 0 && !atToken) {
      // Inside a plain word in block context: skip to the next space.
      let j = i;
      while (j < n && text[j] !== " " && text[j] !== "\n" && text[j] !== "\t") j++;
      prev = text[j - 1] as string;
      i = j;
      continue;
    }
    prev = c;
    i++;
  }
  return undefined;
}

interface Opener {
  offset: number;
  char: string;
  closer: string;
  closed: boolean;
}

/** Flow collections and quoted scalars in the text's CST, with whether each is closed. */
function openers(text: string): Opener[] {
  const out: Opener[] = [];
  const stack: unknown[] = [];
  for (const token of new Parser().parse(text)) stack.push(token);
  while (stack.length > 0) {
    const t = stack.pop();
    if (t === null || typeof t !== "object") continue;
    const tok = t as {
      type?: string;
      offset?: number;
      source?: string;
      start?: { source?: string; offset?: number };
      end?: Array<{ source?: string }>;
    };
    if (tok.type === "flow-collection" && tok.start && typeof tok.start.offset === "number") {
      const char = tok.start.source === "[" ? "[" : "{";
      const closer = char === "[" ? "]" : "}";
      out.push({
        offset: tok.start.offset,
        char,
        closer,
        closed: (tok.end ?? []).some((x) => x.source === closer),
      });
    } else if (
      (tok.type === "double-quoted-scalar" || tok.type === "single-quoted-scalar") &&
      typeof tok.offset === "number"
    ) {
      const q = tok.type === "double-quoted-scalar" ? '"' : "'";
      const src = tok.source ?? "";
      const body = src.slice(1);
      const trailing =
        q === '"' ? (/\\*"$/.exec(body)?.[0].length ?? 0) : (/'*$/.exec(body)?.[0].length ?? 0);
      // closed when it ends with an unescaped quote: `"…\\"` (even backslashes), `'…'` (odd quotes)
      const closed = body.endsWith(q) && (q === '"' ? (trailing - 1) % 2 === 0 : trailing % 2 === 1);
      out.push({ offset: tok.offset, char: q, closer: q, closed });
    }
    for (const v of Object.values(tok)) if (v !== null && typeof v === "object") stack.push(v);
  }
  return out.sort((a, b) => a.offset - b.offset);
}

/** For "missing closing quote" and "flow collection … must end with", the unclosed opener before the error. */
function unclosedOpener(text: string, e: YAMLError, list: () => Opener[]): Opener | undefined {
  const first = e.message.split("\n")[0] ?? "";
  let char: string | undefined;
  if (e.code === "MISSING_CHAR" && /closing "quote/.test(first)) char = '"';
  else if (e.code === "MISSING_CHAR" && /closing 'quote/.test(first)) char = "'";
  else if (/^Flow map/.test(first)) char = "{";
  else if (/^Flow sequence/.test(first)) char = "[";
  if (char === undefined || text.length > MAX_FILE_BYTES) return undefined;
  let found: Opener | undefined;
  for (const o of list()) if (o.char === char && !o.closed && o.offset <= e.pos[0]) found = o;
  return found;
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
  return out.sort(
    (a, b) => (a.pos?.line ?? 0) - (b.pos?.line ?? 0) || (a.pos?.column ?? 0) - (b.pos?.column ?? 0),
  );
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

/**
 * In one walk: the scalar keys that repeat an earlier key of the same map (as the parser's
 * uniqueKeys check, in linear time), and the document's aliases in the order the walk meets them.
 */
function scanDocument(node: unknown): { duplicates: Scalar[]; aliases: Alias[] } {
  const duplicates: Scalar[] = [];
  const aliases: Alias[] = [];
  walk(node, (n) => {
    if (isAlias(n)) {
      aliases.push(n);
      return undefined;
    }
    if (!isMap(n)) return undefined;
    const seen = new Set<string>();
    for (const pair of n.items) {
      if (!isScalar(pair.key)) continue;
      const v = pair.key.value;
      const id = `${v === null ? "null" : typeof v}:${String(v)}`;
      if (seen.has(id)) duplicates.push(pair.key);
      else seen.add(id);
    }
    return undefined;
  });
  return { duplicates, aliases };
}

/** The first of `aliases` whose anchor is not defined before it, if any. */
function firstUndefinedAlias(doc: Document.Parsed, aliases: readonly Alias[]): Alias | undefined {
  return aliases.find((n) => {
    try {
      return n.resolve(doc) === undefined;
    } catch {
      return true;
    }
  });
}

/** The first of `aliases` inside the very node its anchor names (a structure that contains itself), if any. */
function firstRecursiveAlias(doc: Document.Parsed, aliases: readonly Alias[]): Alias | undefined {
  return aliases.find((n) => {
    if (!n.range) return false;
    const target = n.resolve(doc);
    return Boolean(target?.range && target.range[0] <= n.range[0] && n.range[1] <= target.range[1]);
  });
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

/** The pair for `key` in a map, also one a `<<: *anchor` merge key brings in (where it is written). */
function findPair(doc: Document, map: YAMLMap, key: string, depth = 0): Pair | undefined {
  const own = map.items.find((p) => isScalar(p.key) && String(p.key.value) === key);
  if (own || depth > 8) return own;
  for (const p of map.items) {
    // With merge keys on, the parser gives `<<` the value Symbol(<<).
    if (!isScalar(p.key) || (p.key.value !== "<<" && String(p.key.value) !== "Symbol(<<)")) continue;
    const sources = isSeq(p.value) ? p.value.items : [p.value];
    for (const s of sources) {
      const target = isAlias(s) ? s.resolve(doc) : s;
      if (isMap(target)) {
        const found = findPair(doc, target, key, depth + 1);
        if (found) return found;
      }
    }
  }
  return undefined;
}

/** The key node and value node at `path`, as far as the path can be followed. */
export function nodeAt(
  doc: Document,
  path: readonly PathSegment[],
): { key?: Node; value?: Node; depth: number } {
  let current: unknown = doc.contents;
  let key: Node | undefined;
  let depth = 0;
  for (const seg of path) {
    if (isMap(current)) {
      const pair = findPair(doc, current, String(seg));
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
export function positionOf(
  src: SourceFile,
  path: readonly PathSegment[],
  at: "key" | "value" = "value",
): SourcePosition {
  const found = nodeAt(src.doc, path);
  const node =
    at === "key" && found.key && found.depth === path.length ? found.key : (found.value ?? found.key);
  const offset = node?.range?.[0] ?? 0;
  const lp = src.lines.linePos(offset);
  return { file: src.file, line: lp.line, column: lp.col };
}

/** Position of a character offset inside the scalar at `path` (for expressions in strings). */
export function positionInScalar(
  src: SourceFile,
  path: readonly PathSegment[],
  offset: number,
  /** The text that stands at `offset` (found in the source when the scalar is not spelled verbatim). */
  needle?: string,
): SourcePosition {
  const found = nodeAt(src.doc, path);
  const node = found.depth === path.length ? found.value : undefined;
  if (!node || !isScalar(node) || !node.range) return positionOf(src, path);
  const start = node.range[0];
  const raw = src.text.slice(start, node.range[1]);
  const quote = node.type === "QUOTE_DOUBLE" || node.type === "QUOTE_SINGLE" ? 1 : 0;
  const value = String(node.value);
  // Exact when the source spells the value verbatim (single line, no escapes).
  const exact = raw.slice(quote, quote + value.length) === value;
  let at = exact ? quote + offset : mapThroughExpression(raw, value, offset);
  if (!exact && needle) {
    // The same occurrence of the needle in the source as in the value.
    let n = 0;
    for (let i = value.indexOf(needle); i >= 0 && i < offset; i = value.indexOf(needle, i + 1)) n++;
    let j = raw.indexOf(needle);
    for (let k = 0; k < n && j >= 0; k++) j = raw.indexOf(needle, j + 1);
    if (j >= 0) at = j;
  }
  const lp = src.lines.linePos(start + at);
  return { file: src.file, line: lp.line, column: lp.col };
}

/**
 * Where `offset` of a scalar's value is in its source `raw` when the two differ (escapes, block
 * scalars, folded lines): expressions are spelled the same in both, so find the same `${{` in
 * the source and go as far into it as the text agrees. 0 (the scalar's start) when lost.
 */
function mapThroughExpression(raw: string, value: string, offset: number): number {
  const open = value.lastIndexOf("${{", offset);
  if (open < 0) return 0;
  let n = 0;
  for (let i = value.indexOf("${{"); i >= 0 && i < open; i = value.indexOf("${{", i + 3)) n++;
  let at = raw.indexOf("${{");
  for (let k = 0; k < n && at >= 0; k++) at = raw.indexOf("${{", at + 3);
  if (at < 0) return 0;
  let d = 0;
  while (d < offset - open && raw[at + d] === value[open + d]) d++;
  return at + d;
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
