/**
 * The error every part of the expression language throws, and the "did you mean" helper.
 */
import { distance } from "fastest-levenshtein";
import { KilnError, type KilnErrorOptions } from "../errors.js";

export type ExprErrorCode =
  | "KILN_EXPR_SYNTAX"
  | "KILN_EXPR_UNKNOWN_NAME"
  | "KILN_EXPR_UNKNOWN_FUNCTION"
  | "KILN_EXPR_TYPE"
  | "KILN_EXPR_EVAL";

export interface ExprErrorOptions extends KilnErrorOptions {
  /** 0-based character offset into the template string where the problem is. */
  offset: number;
  /** How many characters the problem spans (at least 1 where there is anything to point at). */
  length?: number;
}

/** A problem in a `${{ … }}` expression, with the place in the template string it is about. */
export class ExprError extends KilnError {
  readonly offset: number;
  readonly length: number;

  constructor(code: ExprErrorCode, message: string, options: ExprErrorOptions) {
    super(code, message, options);
    this.name = "ExprError";
    this.offset = options.offset;
    this.length = options.length ?? 0;
  }
}

/** The closest candidate to `name`, when it is close enough to be a plausible typo. */
export function closestName(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  const lower = name.toLowerCase();
  for (const c of candidates) {
    const d = c.toLowerCase() === lower ? 0 : distance(name, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  if (best === undefined) return undefined;
  const allowed = Math.max(2, Math.floor(Math.max(name.length, best.length) / 3));
  return bestDistance <= allowed ? best : undefined;
}

/** A short list of names for a hint: `a, b, c` or `a, b, c, … (12 in all)`. */
export function listNames(names: Iterable<string>, max = 8): string {
  const all = [...names].sort();
  if (all.length <= max) return all.join(", ");
  return `${all.slice(0, max).join(", ")}, … (${all.length} in all)`;
}
