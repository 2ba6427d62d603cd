/**
 * The editor's view of a value that may be an expression. In a build file, a string that is
 * exactly one `${{ … }}` keeps the value's type (`memory: ${{ var.mem }}` is a number once
 * evaluated), and `${{ … }}` inside a string is interpolated (`boot_wait: ${{ var.n }}s`). An
 * editor checks the file as written, before any evaluation, so the schema it gets must accept an
 * expression wherever a typed value may stand; `kiln validate` checks the values themselves.
 */
import { DURATION_PATTERN, type JsonSchema } from "./base.js";

/** A string holding an expression somewhere: accepted where a string has a pattern, enum or format. */
export const EXPR_IN_STRING = "\\$\\{\\{";
/** A string that is one expression, standing for a value of any type. */
export const EXPR_WHOLE = "^\\$\\{\\{[\\s\\S]*\\}\\}$";

const WORDS: Record<string, string> = {
  integer: "a whole number",
  number: "a number",
  boolean: "true or false",
  array: "a list",
  object: "a map",
  null: "null",
  string: "a string",
};
const expected = (types: string[]) =>
  `expected ${types.map((t) => WORDS[t] ?? t).join(" or ")}, or a \${{ … }} expression`;

const isObject = (v: unknown): v is JsonSchema => v !== null && typeof v === "object" && !Array.isArray(v);

/** Schema keywords whose value is a map of name → schema. */
const SCHEMA_MAPS = ["properties", "patternProperties", "definitions", "$defs"] as const;
/** Schema keywords whose value is one schema. Not `if` (see below) nor `not`, `propertyNames`. */
const SCHEMA_ONE = ["additionalProperties", "items", "additionalItems", "then", "else", "contains"] as const;
/** Keywords that only constrain strings: an expression string cannot be checked against them. */
const STRING_ONLY = ["format", "minLength", "maxLength", "contentEncoding", "contentMediaType"] as const;

/** A string with a pattern also takes an expression; editors show the message when neither matches. */
function mergePattern(s: JsonSchema & { pattern: string }): JsonSchema {
  const desc = typeof s.description === "string" ? s.description : "";
  const message =
    s.pattern === DURATION_PATTERN
      ? "expected a duration such as 30s, 5m or 1h30m, or a ${{ … }} expression"
      : `not of the form this takes, nor a \${{ … }} expression${desc ? `: ${desc.length > 160 ? `${desc.slice(0, 157)}...` : desc}` : ""}`;
  return {
    ...s,
    pattern: `(?:${s.pattern})|${EXPR_IN_STRING}`,
    patternErrorMessage: typeof s.patternErrorMessage === "string" ? s.patternErrorMessage : message,
  };
}

/**
 * `schema` with an expression accepted wherever it constrains a value, recursively:
 * - a non-string type (integer, boolean, array, object …) also takes a string that is one
 *   expression (`pattern` applies to strings only, `minimum` or `items` to their own types);
 * - a string with a `pattern` also takes any string holding an expression;
 * - `enum`, `const`, and strings with a `format` or length become `anyOf: [that, expression]`;
 * - `oneOf` becomes `anyOf`: an expression may match more than one branch now.
 * `if` is left as written, so a condition never holds for an unevaluated expression: the rules it
 * guards (a pattern on `output` when there is no `format` …) are checked by `kiln validate`.
 * The input is not changed.
 */
export function acceptExpressions(schema: JsonSchema): JsonSchema {
  const out: JsonSchema = { ...schema };
  for (const k of SCHEMA_MAPS) {
    const map = out[k];
    if (isObject(map)) {
      out[k] = Object.fromEntries(
        Object.entries(map).map(([name, s]) => [name, isObject(s) ? acceptExpressions(s) : s]),
      );
    }
  }
  for (const k of SCHEMA_ONE) {
    const s = out[k];
    if (isObject(s)) out[k] = acceptExpressions(s);
    else if (k === "items" && Array.isArray(s))
      out[k] = s.map((x) => (isObject(x) ? acceptExpressions(x) : x));
  }
  for (const k of ["anyOf", "allOf", "oneOf"] as const) {
    const list = out[k];
    if (Array.isArray(list)) out[k] = list.map((x) => (isObject(x) ? acceptExpressions(x) : x));
  }
  if (Array.isArray(out.oneOf)) {
    out.anyOf = Array.isArray(out.anyOf) ? [...out.anyOf, { anyOf: out.oneOf }] : out.oneOf;
    delete out.oneOf;
  }
  return acceptHere(out);
}

/** The expression branch of an `anyOf`. */
function expressionBranch(): JsonSchema {
  return {
    type: "string",
    pattern: EXPR_IN_STRING,
    patternErrorMessage: "not an allowed value, nor a ${{ … }} expression",
  };
}

/** Move the value constraints of `s` into `anyOf: [constraints, expression]`, keeping its docs outside. */
function wrap(s: JsonSchema): JsonSchema {
  const docs: JsonSchema = {};
  const inner: JsonSchema = {};
  for (const [k, v] of Object.entries(s)) {
    if (["description", "markdownDescription", "title", "default", "examples", "deprecated"].includes(k))
      docs[k] = v;
    else inner[k] = v;
  }
  return { ...docs, anyOf: [inner, expressionBranch()] };
}

function acceptHere(s: JsonSchema): JsonSchema {
  if (typeof s.$ref === "string") return s;
  if ("enum" in s || "const" in s) return wrap(s);
  const types = s.type === undefined ? [] : [s.type].flat().map(String);
  if (types.length === 0) return s;
  if (types.includes("string")) {
    if (STRING_ONLY.some((k) => k in s)) return wrap(s);
    if (typeof s.pattern === "string") return mergePattern(s as JsonSchema & { pattern: string });
    return s;
  }
  // No string allowed yet: a string that is one expression stands for the value.
  return { ...s, type: [...types, "string"], pattern: EXPR_WHOLE, patternErrorMessage: expected(types) };
}
