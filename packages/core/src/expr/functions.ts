/**
 * The function table. Argument order follows HCL/Packer (`split(sep, str)`, `join(sep, list)`).
 * Functions get evaluated arguments and report problems with FnError, which the evaluator turns
 * into an ExprError pointing at the argument (or the call) concerned.
 */
import { createHash, randomUUID } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import * as nodePath from "node:path";
import { MAX_COLLECTION_SIZE, MAX_FILE_SIZE, MAX_REGEX_INPUT, MAX_STRING_LENGTH } from "./limits.js";
import { type CompiledRegex, compileRegex, RegexError, regexReplaceAll, regexTest } from "./regex.js";
import {
  checkLength,
  codePoints,
  deepEqual,
  formatNumber,
  mapKeys,
  ownValue,
  toJson,
  toText,
  typeOf,
  ValueError,
} from "./values.js";

/** A problem in a function call; `arg` is the 0-based argument it is about, if any. */
export class FnError extends Error {
  constructor(
    readonly kind: "type" | "eval",
    message: string,
    readonly arg?: number,
    readonly hint?: string,
  ) {
    super(message);
  }
}

export interface CallContext {
  baseDir: string;
  now: () => Date;
  /** Render a template file's text with `vars` as extra roots. */
  renderFile(text: string, vars: Record<string, unknown>, file: string): string;
}

export interface FunctionDef {
  /** Parameter list for messages, e.g. `str, substr, repl`. */
  params: string;
  min: number;
  max: number;
  call(a: Args, ctx: CallContext): unknown;
}

const ARTICLE: Record<string, string> = {
  string: "a string",
  number: "a number",
  bool: "a bool",
  list: "a list",
  map: "a map",
  null: "null",
  unsupported: "an unsupported value",
};

/** Typed access to the arguments of one call. */
export class Args {
  constructor(
    readonly fn: string,
    readonly values: readonly unknown[],
  ) {}

  get length(): number {
    return this.values.length;
  }

  typeError(i: number, expected: string): FnError {
    const got = ARTICLE[typeOf(this.values[i])] ?? "a value";
    return new FnError("type", `${this.fn}() argument ${i + 1} must be ${expected}, got ${got}.`, i);
  }

  any(i: number): unknown {
    const v = this.values[i];
    return v === undefined ? null : v;
  }
  str(i: number): string {
    const v = this.values[i];
    if (typeof v !== "string") throw this.typeError(i, "a string");
    return v;
  }
  num(i: number): number {
    const v = this.values[i];
    if (typeof v !== "number" || !Number.isFinite(v)) throw this.typeError(i, "a number");
    return v;
  }
  list(i: number): readonly unknown[] {
    const v = this.values[i];
    if (!Array.isArray(v)) throw this.typeError(i, "a list");
    return v;
  }
  map(i: number): Record<string, unknown> {
    const v = this.values[i];
    if (typeOf(v) !== "map") throw this.typeError(i, "a map");
    return v as Record<string, unknown>;
  }
}

function evalError(fn: string, message: string, arg?: number, hint?: string): FnError {
  return new FnError("eval", `${fn}(): ${message}`, arg, hint);
}

function checkSize<T>(fn: string, list: T[]): T[] {
  if (list.length > MAX_COLLECTION_SIZE) {
    throw evalError(fn, `result has ${list.length} items; the limit is ${MAX_COLLECTION_SIZE}.`);
  }
  return list;
}

/** Compile `/re/` (or a bare pattern when `bare`), caching the last few patterns. */
const regexCache = new Map<string, CompiledRegex>();
function regex(a: Args, i: number, pattern: string): CompiledRegex {
  const cached = regexCache.get(pattern);
  if (cached) return cached;
  try {
    const re = compileRegex(pattern);
    if (regexCache.size >= 64) regexCache.clear();
    regexCache.set(pattern, re);
    return re;
  } catch (e) {
    if (e instanceof RegexError) {
      throw evalError(
        a.fn,
        `invalid regular expression: ${e.message}`,
        i,
        "Patterns use RE2 syntax, without lookaround or backreferences.",
      );
    }
    throw e;
  }
}

function regexInput(a: Args, i: number, s: string): void {
  if (s.length > MAX_REGEX_INPUT) {
    throw evalError(
      a.fn,
      `text is ${s.length} characters long; patterns are applied to at most ${MAX_REGEX_INPUT}.`,
      i,
    );
  }
}

function readText(a: Args, ctx: CallContext): { text: string; path: string } {
  const rel = a.str(0);
  if (rel === "") throw evalError(a.fn, "the path is empty.", 0);
  const full = nodePath.resolve(ctx.baseDir, rel);
  let size: number;
  try {
    const st = statSync(full);
    if (!st.isFile()) throw evalError(a.fn, `"${rel}" is not a file.`, 0);
    size = st.size;
  } catch (e) {
    if (e instanceof FnError) throw e;
    const code = (e as { code?: unknown }).code;
    if (code === "ENOENT" || code === "ENOTDIR") {
      throw evalError(
        a.fn,
        `file "${rel}" not found (looked for ${full}).`,
        0,
        `Relative paths are resolved from ${ctx.baseDir}.`,
      );
    }
    throw evalError(a.fn, `cannot read "${rel}": ${(e as Error).message}`, 0);
  }
  if (size > MAX_FILE_SIZE) {
    throw evalError(a.fn, `"${rel}" is ${size} bytes; the limit is ${MAX_FILE_SIZE}.`, 0);
  }
  let bytes: Buffer;
  try {
    bytes = readFileSync(full);
  } catch (e) {
    throw evalError(a.fn, `cannot read "${rel}": ${(e as Error).message}`, 0);
  }
  if (bytes.length > MAX_FILE_SIZE)
    throw evalError(a.fn, `"${rel}" is larger than ${MAX_FILE_SIZE} bytes.`, 0);
  try {
    let text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    if (text.startsWith("\uFEFF")) text = text.slice(1);
    return { text, path: full };
  } catch {
    throw evalError(
      a.fn,
      `"${rel}" is not UTF-8 text.`,
      0,
      "Read binary files another way; file() reads text.",
    );
  }
}

function fmt(a: Args): string {
  const f = a.str(0);
  let out = "";
  let next = 1;
  for (let i = 0; i < f.length; i++) {
    const c = f[i] as string;
    if (c !== "%") {
      out += c;
      continue;
    }
    const verb = f[++i];
    if (verb === "%") {
      out += "%";
      continue;
    }
    if (verb === undefined || !"sdqv".includes(verb)) {
      throw evalError(
        "format",
        `unknown verb "%${verb ?? ""}" in the format string.`,
        0,
        "The verbs are %s %d %q %v and %%.",
      );
    }
    if (next >= a.length) {
      throw evalError(
        "format",
        "not enough arguments for the verbs in the format string.",
        undefined,
        `Pass one argument per verb (${f.split("%%").join("").split("%").length - 1} verbs).`,
      );
    }
    const v = a.values[next];
    if (verb === "d") {
      if (typeof v !== "number" || !Number.isInteger(v)) throw a.typeError(next, "a whole number (for %d)");
      out += formatNumber(v);
    } else if (verb === "q") {
      out += JSON.stringify(toText(v));
    } else {
      out += toText(v);
    }
    next++;
    checkLength(out);
  }
  if (next < a.length) {
    throw evalError("format", `${a.length - next} more argument(s) than verbs in the format string.`, next);
  }
  return out;
}

function stringish(a: Args, i: number): string {
  const v = a.values[i];
  switch (typeOf(v)) {
    case "string":
      return v as string;
    case "number":
      return formatNumber(v as number);
    case "bool":
      return v ? "true" : "false";
    default:
      throw a.typeError(i, "a string");
  }
}

const fns: Array<[string, FunctionDef]> = [
  ["lower", { params: "str", min: 1, max: 1, call: (a) => a.str(0).toLowerCase() }],
  ["upper", { params: "str", min: 1, max: 1, call: (a) => checkLength(a.str(0).toUpperCase()) }],
  [
    "replace",
    {
      params: "str, substr, repl",
      min: 3,
      max: 3,
      call: (a) => {
        const s = a.str(0);
        const sub = a.str(1);
        const repl = a.str(2);
        if (sub.length > 2 && sub.startsWith("/") && sub.endsWith("/")) {
          const re = regex(a, 1, sub.slice(1, -1));
          regexInput(a, 0, s);
          try {
            return regexReplaceAll(re, s, repl, MAX_STRING_LENGTH);
          } catch (e) {
            if (e instanceof RegexError) throw evalError("replace", e.message, 1);
            throw e;
          }
        }
        if (sub === "") throw evalError("replace", "the substring to replace is empty.", 1);
        const parts = s.split(sub);
        const size = s.length + (parts.length - 1) * (repl.length - sub.length);
        if (size > MAX_STRING_LENGTH)
          throw new ValueError(
            "eval",
            `Result would be ${size} characters long; the limit is ${MAX_STRING_LENGTH}.`,
          );
        return parts.join(repl);
      },
    },
  ],
  [
    "regex_match",
    {
      params: "str, pattern",
      min: 2,
      max: 2,
      call: (a) => {
        const s = a.str(0);
        let p = a.str(1);
        if (p.length > 2 && p.startsWith("/") && p.endsWith("/")) p = p.slice(1, -1);
        const re = regex(a, 1, p);
        regexInput(a, 0, s);
        try {
          return regexTest(re, s);
        } catch (e) {
          if (e instanceof RegexError) throw evalError("regex_match", e.message, 1);
          throw e;
        }
      },
    },
  ],
  [
    "split",
    {
      params: "sep, str",
      min: 2,
      max: 2,
      call: (a) => {
        const sep = a.str(0);
        const s = a.str(1);
        return checkSize("split", sep === "" ? codePoints(s) : s.split(sep));
      },
    },
  ],
  [
    "join",
    {
      params: "sep, list",
      min: 2,
      max: 2,
      call: (a) => {
        const sep = a.str(0);
        const list = a.list(1);
        const parts = list.map((v, idx) => {
          const t = typeOf(v);
          if (t === "string") return v as string;
          if (t === "number") return formatNumber(v as number);
          if (t === "bool") return v ? "true" : "false";
          throw new FnError(
            "type",
            `join() argument 2 must be a list of strings; item ${idx} is ${ARTICLE[t] ?? "a value"}.`,
            1,
          );
        });
        const size = parts.reduce((n, p) => n + p.length, 0) + Math.max(0, parts.length - 1) * sep.length;
        if (size > MAX_STRING_LENGTH)
          throw new ValueError(
            "eval",
            `Result would be ${size} characters long; the limit is ${MAX_STRING_LENGTH}.`,
          );
        return parts.join(sep);
      },
    },
  ],
  [
    "trim",
    {
      params: "str, cutset",
      min: 2,
      max: 2,
      call: (a) => {
        const cps = codePoints(a.str(0));
        const cut = new Set(codePoints(a.str(1)));
        let i = 0;
        let j = cps.length;
        while (i < j && cut.has(cps[i] as string)) i++;
        while (j > i && cut.has(cps[j - 1] as string)) j--;
        return cps.slice(i, j).join("");
      },
    },
  ],
  ["trimspace", { params: "str", min: 1, max: 1, call: (a) => a.str(0).trim() }],
  ["format", { params: "fmt, args…", min: 1, max: Number.POSITIVE_INFINITY, call: (a) => fmt(a) }],
  [
    "timestamp",
    {
      params: "",
      min: 0,
      max: 0,
      call: (_a, ctx) => {
        const d = ctx.now();
        if (Number.isNaN(d.getTime())) throw evalError("timestamp", "the clock returned an invalid date.");
        return d.toISOString().replace(/\.\d+Z$/, "Z");
      },
    },
  ],
  ["uuid", { params: "", min: 0, max: 0, call: () => randomUUID() }],
  ["file", { params: "path", min: 1, max: 1, call: (a, ctx) => readText(a, ctx).text }],
  [
    "templatefile",
    {
      params: "path, vars",
      min: 2,
      max: 2,
      call: (a, ctx) => {
        const vars = a.map(1);
        const { text, path } = readText(a, ctx);
        return ctx.renderFile(text, vars, path);
      },
    },
  ],
  [
    "sha256",
    {
      params: "str",
      min: 1,
      max: 1,
      call: (a) => createHash("sha256").update(a.str(0), "utf8").digest("hex"),
    },
  ],
  [
    "base64encode",
    {
      params: "str",
      min: 1,
      max: 1,
      call: (a) => checkLength(Buffer.from(a.str(0), "utf8").toString("base64")),
    },
  ],
  [
    "base64decode",
    {
      params: "str",
      min: 1,
      max: 1,
      call: (a) => {
        const s = a.str(0);
        if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) {
          throw evalError("base64decode", "argument 1 is not valid base64.", 0);
        }
        try {
          return new TextDecoder("utf-8", { fatal: true }).decode(Buffer.from(s, "base64"));
        } catch {
          throw evalError("base64decode", "the decoded bytes are not UTF-8 text.", 0);
        }
      },
    },
  ],
  [
    "coalesce",
    {
      params: "vals…",
      min: 1,
      max: Number.POSITIVE_INFINITY,
      call: (a) => {
        for (const v of a.values) if (v !== null && v !== undefined && v !== "") return v;
        throw evalError(
          "coalesce",
          "every argument is null or an empty string.",
          undefined,
          "Add a non-empty last argument as a default.",
        );
      },
    },
  ],
  [
    "length",
    {
      params: "value",
      min: 1,
      max: 1,
      call: (a) => {
        const v = a.values[0];
        const t = typeOf(v);
        if (t === "string") return codePoints(v as string).length;
        if (t === "list") return (v as unknown[]).length;
        if (t === "map") return mapKeys(v as Record<string, unknown>).length;
        throw a.typeError(0, "a string, list or map");
      },
    },
  ],
  [
    "contains",
    {
      params: "list_or_string, value",
      min: 2,
      max: 2,
      call: (a) => {
        const c = a.values[0];
        if (typeof c === "string") return c.includes(a.str(1));
        if (Array.isArray(c)) return c.some((v) => deepEqual(v, a.values[1]));
        throw a.typeError(0, "a list or a string");
      },
    },
  ],
  ["keys", { params: "map", min: 1, max: 1, call: (a) => mapKeys(a.map(0)).sort() }],
  [
    "values",
    {
      params: "map",
      min: 1,
      max: 1,
      call: (a) => {
        const m = a.map(0);
        return mapKeys(m)
          .sort()
          .map((k) => ownValue(m, k).value ?? null);
      },
    },
  ],
  [
    "lookup",
    {
      params: "map, key, default",
      min: 2,
      max: 3,
      call: (a) => {
        const m = a.map(0);
        const k = a.str(1);
        const { found, value } = ownValue(m, k);
        if (found) return value ?? null;
        if (a.length > 2) return a.any(2);
        throw evalError("lookup", `the map has no key "${k}".`, 1, "Pass a default as the third argument.");
      },
    },
  ],
  [
    "concat",
    {
      params: "lists…",
      min: 1,
      max: Number.POSITIVE_INFINITY,
      call: (a) => {
        let total = 0;
        for (let i = 0; i < a.length; i++) total += a.list(i).length;
        if (total > MAX_COLLECTION_SIZE) {
          throw evalError("concat", `result would have ${total} items; the limit is ${MAX_COLLECTION_SIZE}.`);
        }
        const out: unknown[] = [];
        for (let i = 0; i < a.length; i++) out.push(...a.list(i));
        return out;
      },
    },
  ],
  [
    "tostring",
    {
      params: "value",
      min: 1,
      max: 1,
      call: (a) => (a.any(0) === null ? null : stringish(a, 0)),
    },
  ],
  [
    "tonumber",
    {
      params: "value",
      min: 1,
      max: 1,
      call: (a) => {
        const v = a.any(0);
        if (v === null || typeof v === "number") return v;
        if (typeof v === "string") {
          const t = v.trim();
          if (/^-?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(t)) {
            const n = Number(t);
            if (Number.isFinite(n)) return n;
          }
          throw evalError("tonumber", `"${v.length > 40 ? `${v.slice(0, 40)}…` : v}" is not a number.`, 0);
        }
        throw a.typeError(0, "a string or a number");
      },
    },
  ],
  [
    "tobool",
    {
      params: "value",
      min: 1,
      max: 1,
      call: (a) => {
        const v = a.any(0);
        if (v === null || typeof v === "boolean") return v;
        if (v === "true") return true;
        if (v === "false") return false;
        if (typeof v === "string") throw evalError("tobool", 'only "true" and "false" convert to a bool.', 0);
        throw a.typeError(0, "a string or a bool");
      },
    },
  ],
  ["startswith", { params: "str, prefix", min: 2, max: 2, call: (a) => a.str(0).startsWith(a.str(1)) }],
  ["endswith", { params: "str, suffix", min: 2, max: 2, call: (a) => a.str(0).endsWith(a.str(1)) }],
  [
    "min",
    {
      params: "numbers…",
      min: 1,
      max: Number.POSITIVE_INFINITY,
      call: (a) => Math.min(...a.values.map((_v, i) => a.num(i))),
    },
  ],
  [
    "max",
    {
      params: "numbers…",
      min: 1,
      max: Number.POSITIVE_INFINITY,
      call: (a) => Math.max(...a.values.map((_v, i) => a.num(i))),
    },
  ],
  ["abs", { params: "number", min: 1, max: 1, call: (a) => Math.abs(a.num(0)) }],
  ["basename", { params: "path", min: 1, max: 1, call: (a) => nodePath.basename(a.str(0)) }],
  ["dirname", { params: "path", min: 1, max: 1, call: (a) => nodePath.dirname(a.str(0)) }],
  ["abspath", { params: "path", min: 1, max: 1, call: (a, ctx) => nodePath.resolve(ctx.baseDir, a.str(0)) }],
  ["jsonencode", { params: "value", min: 1, max: 1, call: (a) => toJson(a.any(0)) }],
  // can() is a special form handled by the evaluator; the entry is here for checks and arity.
  ["can", { params: "expr", min: 1, max: 1, call: () => true }],
];

/** The functions expressions may call, by name. A Map, so no inherited name is ever a function. */
export const FUNCTIONS: ReadonlyMap<string, FunctionDef> = new Map(fns);

/** `lower() takes 1 argument`, `lookup() takes 2 or 3 arguments` … */
export function arityHint(name: string, def: Pick<FunctionDef, "params" | "min" | "max">): string {
  const plural = (n: number): string => `${n} argument${n === 1 ? "" : "s"}`;
  let count: string;
  if (def.max === Number.POSITIVE_INFINITY) count = `at least ${plural(def.min)}`;
  else if (def.min === def.max) count = plural(def.min);
  else if (def.max === def.min + 1) count = `${def.min} or ${plural(def.max)}`;
  else count = `${def.min} to ${plural(def.max)}`;
  return `${name}() takes ${count}${def.params ? `: ${name}(${def.params})` : ""}.`;
}

/** The names of the functions expressions may call, sorted (for editors and docs). */
export const FUNCTION_NAMES: readonly string[] = Object.freeze([...FUNCTIONS.keys()].sort());
