/**
 * A value that is only known while a build runs: the parsed template of a string from the build
 * file that refers to `build.*`, `http.*` (or `source.*` in a build's components). The loader
 * makes one in place of such a string; `ctx.render` evaluates these markers, and only these, at
 * build time. A plain string is data and is never parsed as an expression again, whatever it holds.
 */
import { parseTemplate, type Template } from "./parse.js";

/** Set on every marker; found by this key so a marker made by another copy of core is one too. */
const BRAND = Symbol.for("kiln.expr.deferred-value");

export class Deferred {
  readonly [BRAND] = true;
  /**
   * @param source the string as written in the file (what `inspect` and error messages show)
   * @param template its parsed form
   * @param sensitive it reads a sensitive value: what it gives at build time is a secret
   */
  constructor(
    readonly source: string,
    readonly template: Template,
    readonly sensitive = false,
  ) {}

  /** A marker for `text` as if written in a build file (for tests, kits and hand-built options). */
  static parse(text: string, sensitive = false): Deferred {
    return new Deferred(text, parseTemplate(text), sensitive);
  }

  toString(): string {
    return this.source;
  }

  toJSON(): string {
    return this.source;
  }
}

export function isDeferred(v: unknown): v is Deferred {
  return typeof v === "object" && v !== null && (v as Record<symbol, unknown>)[BRAND] === true;
}

const seen = new WeakMap<object, boolean>();

/** True when `v` is a marker or a list/map holding one (at any depth up to `maxDepth`). */
export function holdsDeferred(v: unknown, maxDepth = 64): boolean {
  if (typeof v !== "object" || v === null) return false;
  if (isDeferred(v)) return true;
  const known = seen.get(v);
  if (known !== undefined) return known;
  let found = false;
  if (maxDepth > 0) {
    for (const x of Array.isArray(v) ? v : Object.values(v)) {
      if (holdsDeferred(x, maxDepth - 1)) {
        found = true;
        break;
      }
    }
  }
  seen.set(v, found);
  return found;
}
