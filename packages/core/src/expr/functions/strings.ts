/** String functions: case, replace and regex_match, split and join, trim, format, prefixes. */
import { MAX_COLLECTION_SIZE, MAX_REGEX_INPUT, MAX_STRING_LENGTH } from "../limits.js";
import { type CompiledRegex, compileRegex, RegexError, regexReplaceAll, regexTest } from "../regex.js";
import { checkLength, codePoints, formatNumber, typeOf, ValueError } from "../values.js";
import { ARTICLE, type Args, evalError, FnError, type FunctionDef } from "./args.js";

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

export const STRING_FUNCTIONS: Array<[string, FunctionDef]> = [
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
  ["startswith", { params: "str, prefix", min: 2, max: 2, call: (a) => a.str(0).startsWith(a.str(1)) }],
  ["endswith", { params: "str, suffix", min: 2, max: 2, call: (a) => a.str(0).endsWith(a.str(1)) }],
];
