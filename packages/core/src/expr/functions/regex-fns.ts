/** regex(), regexall() and regex_replace() as Packer has them (pattern first for regex/regexall). */
import { MAX_COLLECTION_SIZE, MAX_STRING_LENGTH } from "../limits.js";
import { type CompiledRegex, compileRegex, RegexError, regexMatches, regexReplaceAll } from "../regex.js";
import { type Args, evalError, type FunctionDef } from "./args.js";

function compile(a: Args, i: number): CompiledRegex {
  try {
    return compileRegex(a.str(i));
  } catch (e) {
    if (e instanceof RegexError)
      throw evalError(
        a.fn,
        `invalid regular expression: ${e.message}`,
        i,
        "Patterns use RE2 syntax, without lookaround or backreferences.",
      );
    throw e;
  }
}

/** One match as Packer gives it: the matched text, a list of the groups, or a map of the named groups. */
function shape(re: CompiledRegex, cps: string[], m: number[]): unknown {
  const text = (g: number): string | null => {
    const s = m[g * 2] as number;
    const e = m[g * 2 + 1] as number;
    return s < 0 || e < 0 ? null : cps.slice(s, e).join("");
  };
  if (re.groups === 0) return text(0);
  if (re.names.some((n) => n !== undefined)) {
    const out: Record<string, unknown> = {};
    for (let g = 1; g <= re.groups; g++) {
      const name = re.names[g];
      if (name !== undefined) out[name] = text(g);
    }
    return out;
  }
  return Array.from({ length: re.groups }, (_v, g) => text(g + 1));
}

function matches(a: Args, max: number): { re: CompiledRegex; cps: string[]; list: number[][] } {
  const re = compile(a, 0);
  try {
    const { cps, matches: list } = regexMatches(re, a.str(1), max);
    return { re, cps, list };
  } catch (e) {
    if (e instanceof RegexError) throw evalError(a.fn, e.message, 1);
    throw e;
  }
}

export const REGEX_FUNCTIONS: Array<[string, FunctionDef]> = [
  [
    "regex",
    {
      params: "pattern, str",
      min: 2,
      max: 2,
      call: (a) => {
        const { re, cps, list } = matches(a, 1);
        const m = list[0];
        if (m === undefined)
          throw evalError(
            "regex",
            "the pattern does not match the string.",
            1,
            "Use regexall() for a list that may be empty, or can(regex(…)) to test.",
          );
        return shape(re, cps, m);
      },
    },
  ],
  [
    "regexall",
    {
      params: "pattern, str",
      min: 2,
      max: 2,
      call: (a) => {
        const { re, cps, list } = matches(a, MAX_COLLECTION_SIZE);
        return list.map((m) => shape(re, cps, m));
      },
    },
  ],
  [
    "regex_replace",
    {
      params: "str, pattern, repl",
      min: 3,
      max: 3,
      call: (a) => {
        const s = a.str(0);
        const re = (() => {
          try {
            return compileRegex(a.str(1));
          } catch (e) {
            if (e instanceof RegexError) throw evalError(a.fn, `invalid regular expression: ${e.message}`, 1);
            throw e;
          }
        })();
        try {
          return regexReplaceAll(re, s, a.str(2), MAX_STRING_LENGTH);
        } catch (e) {
          if (e instanceof RegexError) throw evalError(a.fn, e.message, 1);
          throw e;
        }
      },
    },
  ],
];
