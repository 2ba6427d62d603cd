/**
 * The function table. Argument order follows HCL/Packer (`split(sep, str)`, `join(sep, list)`).
 * Functions get evaluated arguments and report problems with FnError, which the evaluator turns
 * into an ExprError pointing at the argument (or the call) concerned. Each group lives in its own
 * module; this one assembles them.
 */
import type { FunctionDef } from "./args.js";
import { COLLECTION_FUNCTIONS } from "./collections.js";
import { CONVERSION_FUNCTIONS } from "./convert.js";
import { ENCODING_FUNCTIONS } from "./encoding.js";
import { FILE_FUNCTIONS } from "./files.js";
import { FILESET_FUNCTIONS } from "./fileset.js";
import { FORMAT_FUNCTIONS } from "./format.js";
import { HASH_FUNCTIONS } from "./hash.js";
import { LIST_FUNCTIONS } from "./lists.js";
import { NET_FUNCTIONS } from "./net.js";
import { NUMBER_FUNCTIONS } from "./numbers.js";
import { PATH_FUNCTIONS } from "./paths.js";
import { REGEX_FUNCTIONS } from "./regex-fns.js";
import { STRING_FUNCTIONS } from "./strings.js";
import { TEXT_FUNCTIONS } from "./text.js";
import { TIME_FUNCTIONS } from "./time.js";

export { Args, type CallContext, FnError, type FunctionDef } from "./args.js";

const fns: Array<[string, FunctionDef]> = [
  ...STRING_FUNCTIONS,
  ...FORMAT_FUNCTIONS,
  ...TEXT_FUNCTIONS,
  ...REGEX_FUNCTIONS,
  ...LIST_FUNCTIONS,
  ...HASH_FUNCTIONS,
  ...NET_FUNCTIONS,
  ...FILESET_FUNCTIONS,
  ...TIME_FUNCTIONS,
  ...FILE_FUNCTIONS,
  ...ENCODING_FUNCTIONS,
  ...COLLECTION_FUNCTIONS,
  ...CONVERSION_FUNCTIONS,
  ...NUMBER_FUNCTIONS,
  ...PATH_FUNCTIONS,
  // can() is a special form handled by the evaluator; the entry is here for checks and arity.
  ["can", { params: "expr", min: 1, max: 1, call: () => true }],
  // try() and env() are special forms too: try() catches errors, env() reads the scope's environment.
  ["try", { params: "exprs…", min: 1, max: Number.POSITIVE_INFINITY, call: () => null }],
  ["env", { params: "name", min: 1, max: 1, call: () => "" }],
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
