/**
 * The values expressions see: variables (bound and validated), locals, env and path; the scope
 * a part of the file is evaluated in; and which expressions are held back because a value they
 * use is missing.
 */
import type { Diagnostic } from "../errors.js";
import { references, type Scope, type Template } from "../expr/index.js";
import { evaluateLocals } from "./locals.js";
import type { SourceFile } from "./parse.js";
import type { RawFile } from "./structure.js";
import type { LoadOptions } from "./types.js";
import { resolveVariables, type VariableDecl, type VariableValue, validateVariables } from "./variables.js";

/** Roots that exist only while a build runs. */
export const BUILD_TIME_ROOTS = ["build", "http", "data"] as const;

export interface Values {
  decls: Record<string, VariableDecl>;
  variables: Record<string, VariableValue>;
  locals: Record<string, unknown>;
  /** The scope for a part of the file: the values plus `extra`; `deferredRoots` wait for the build. */
  scopeFor(extra: Record<string, unknown>, deferredRoots: string[]): Scope;
  /** True for an expression that uses a variable or local without a value (already reported). */
  hold(t: Template): boolean;
}

const isMap = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

/** Bind the file's variables and evaluate its locals (nothing of either with `syntaxOnly`). */
export function bindValues(
  raw: RawFile,
  src: SourceFile,
  dir: string,
  opts: LoadOptions,
  diags: Diagnostic[],
): Values {
  // Variables
  const decls = isMap(raw.variables) ? (raw.variables as Record<string, VariableDecl>) : {};
  const variables = opts.syntaxOnly
    ? {}
    : resolveVariables(
        Object.fromEntries(Object.entries(decls).filter(([, d]) => isMap(d))),
        src,
        opts,
        diags,
        opts.requireValues ?? true,
      );
  const localsRaw = isMap(raw.locals) ? raw.locals : {};
  const env = opts.env ?? process.env;
  const varNames = new Set(Object.keys(decls));
  const localNames = new Set(Object.keys(localsRaw));
  const values: Record<string, unknown> = {
    var: Object.fromEntries(Object.entries(variables).map(([k, v]) => [k, v.value])),
    local: {},
    env: Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined)),
    path: { root: dir, cwd: opts.cwd ?? process.cwd() },
  };
  const scopeFor = (extra: Record<string, unknown>, deferredRoots: string[]): Scope => ({
    values: { ...values, ...extra },
    deferred: new Set(deferredRoots),
    members: { var: varNames, local: localNames },
    baseDir: dir,
  });

  if (!opts.syntaxOnly) {
    validateVariables(variables, src, scopeFor({}, [...BUILD_TIME_ROOTS, "source"]), diags);
  }

  // Expressions that use a variable without a value (already reported) are not evaluated, so
  // one missing value does not cause an error at every place it is used.
  const missing = {
    var: new Set(
      Object.values(variables)
        .filter((v) => v.origin === undefined)
        .map((v) => v.name),
    ),
    local: new Set<string>(),
  };
  const hold = (t: Template) =>
    references(t).some(
      (r) =>
        (r.root === "var" || r.root === "local") && r.member !== undefined && missing[r.root].has(r.member),
    );

  // Locals, in dependency order
  const locals: Record<string, unknown> = values.local as Record<string, unknown>;
  if (!opts.syntaxOnly) {
    evaluateLocals(
      localsRaw,
      locals,
      () => scopeFor({ local: locals }, [...BUILD_TIME_ROOTS, "source"]),
      src,
      diags,
      hold,
      missing.local,
    );
  }
  return { decls, variables, locals, scopeFor, hold };
}

/** Values to redact from all output: the values and defaults of sensitive variables. */
export function secretsOf(values: Values): string[] {
  const secrets: string[] = [];
  for (const v of Object.values(values.variables)) if (v.sensitive) collectStrings(v.value, secrets);
  for (const d of Object.values(values.decls))
    if (isMap(d) && d.sensitive === true) collectStrings(d.default, secrets);
  return secrets;
}

function collectStrings(v: unknown, out: string[]): void {
  if (typeof v === "string") {
    if (v.length > 0) out.push(v);
  } else if (typeof v === "number") out.push(String(v));
  else if (Array.isArray(v)) for (const x of v) collectStrings(x, out);
  else if (v && typeof v === "object") for (const x of Object.values(v)) collectStrings(x, out);
}
