/** Helpers for a component's `checkpointInputs` / `inputFiles`: the local paths among its options. */
import { isDeferred } from "../../expr/deferred.js";

/**
 * The paths among `values` (strings, lists of strings, absent), or false when one is known
 * only while building (a `Deferred` marker): the files cannot be hashed before the run.
 */
export function localPaths(...values: unknown[]): string[] | false {
  const out: string[] = [];
  for (const v of values) {
    for (const x of Array.isArray(v) ? v : [v]) {
      if (x === undefined || x === null || x === "") continue;
      if (typeof x !== "string" || isDeferred(x)) return false;
      out.push(x);
    }
  }
  return out;
}
