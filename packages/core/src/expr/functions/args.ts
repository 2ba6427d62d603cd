/**
 * What every function of the table shares: its definition, typed access to its arguments and the
 * errors it reports (FnError, which the evaluator turns into an ExprError pointing at the argument
 * or the call concerned).
 */
import { typeOf } from "../values.js";

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

export const ARTICLE: Record<string, string> = {
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

export function evalError(fn: string, message: string, arg?: number, hint?: string): FnError {
  return new FnError("eval", `${fn}(): ${message}`, arg, hint);
}
