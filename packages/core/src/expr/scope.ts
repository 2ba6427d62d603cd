/** What an expression can see. */

/** Marks a value that is only known at build time; `evaluateTemplate` returns it. */
export const DEFERRED: unique symbol = Symbol.for("kiln.expr.deferred");
export type DeferredSymbol = typeof DEFERRED;

export interface Scope {
  /** Roots bound now, e.g. `{ var: {...}, local: {...}, env: {...}, path: { root, cwd } }`. */
  values: Record<string, unknown>;
  /** Roots that exist but are bound only at build time, e.g. `build`, `http`. */
  deferred: ReadonlySet<string>;
  /** For roots whose members are declared (`var`, `local`): the declared names. */
  members?: Record<string, ReadonlySet<string>>;
  /** `file()` and `templatefile()` resolve relative paths here. */
  baseDir: string;
  /**
   * Members whose values are sensitive, by root (e.g. `{ var: {"password"}, local: {"auth"} }`):
   * a result computed from one is sensitive too (see `evaluateTracked`). Reading a whole root
   * that holds a sensitive member (`jsonencode(var)`) counts as reading it.
   */
  sensitive?: Record<string, ReadonlySet<string>>;
  /**
   * At build time: a `Deferred` marker read from the scope (a local that needs build values) is
   * evaluated in place. Otherwise reading one defers the whole expression.
   */
  resolveDeferred?: boolean;
  /** The clock for `timestamp()`; injectable in tests. */
  now?: () => Date;
}

/** The names a scope knows as roots. */
export function knownRoots(scope: Scope, extra?: Record<string, unknown>): Set<string> {
  const out = new Set<string>([...Object.keys(scope.values), ...scope.deferred]);
  if (scope.members) for (const k of Object.keys(scope.members)) out.add(k);
  if (extra) for (const k of Object.keys(extra)) out.add(k);
  for (const k of ["__proto__", "constructor", "prototype"]) out.delete(k);
  return out;
}

/** The declared member names of `root`, if the scope declares them. */
export function declaredMembers(scope: Scope, root: string): ReadonlySet<string> | undefined {
  const m = scope.members;
  if (m === undefined || !Object.hasOwn(m, root)) return undefined;
  return m[root];
}
