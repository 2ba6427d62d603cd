/**
 * The values expressions see: variables (bound and validated), locals, env and path; the scope
 * a part of the file is evaluated in; and which expressions are held back because a value they
 * use is missing.
 */

import { SecretRegistry } from "../engine/secrets.js";
import type { Diagnostic } from "../errors.js";
import { references, type Scope, type Template } from "../expr/index.js";
import { coreVersion } from "../plugins/version.js";
import { MIN_DERIVED_SECRET, secretStrings } from "../util/secret-strings.js";
import { evaluateLocals } from "./locals.js";
import type { SourceFile } from "./parse.js";
import { sensitiveLines } from "./sensitive-lines.js";
import type { RawFile } from "./structure.js";
import type { LoadOptions } from "./types.js";
import { resolveVariables, type VariableDecl, type VariableValue, validateVariables } from "./variables.js";

/** Roots that exist only while a build runs. */
export const BUILD_TIME_ROOTS = ["build", "http", "data"] as const;

export interface Values {
  decls: Record<string, VariableDecl>;
  variables: Record<string, VariableValue>;
  locals: Record<string, unknown>;
  /** Locals computed from a sensitive value: shown masked, their values redacted. */
  sensitiveLocals: ReadonlySet<string>;
  /** Lines holding sensitive values, by file (the build file and the variables files read). */
  masks: Map<string, Set<number>>;
  /** Values computed from sensitive ones while loading (locals and options add theirs). */
  derivedSecrets: unknown[];
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
  const masks = new Map<string, Set<number>>([[src.file, sensitiveLines(src.text)]]);
  const variables = opts.syntaxOnly
    ? {}
    : resolveVariables(
        Object.fromEntries(Object.entries(decls).filter(([, d]) => isMap(d))),
        src,
        opts,
        diags,
        opts.requireValues ?? true,
        masks,
      );
  const localsRaw = isMap(raw.locals) ? raw.locals : {};
  const env = opts.env ?? process.env;
  const varNames = new Set(Object.keys(decls));
  const localNames = new Set(Object.keys(localsRaw));
  // data.<name> must name a data source of the file (its outputs are known only when it runs).
  const dataNames = new Set(isMap(raw.data) ? Object.keys(raw.data) : []);
  const values: Record<string, unknown> = {
    var: Object.fromEntries(Object.entries(variables).map(([k, v]) => [k, v.value])),
    local: {},
    env: Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined)),
    path: { root: dir, cwd: opts.cwd ?? process.cwd() },
    // Packer's packer.version
    kiln: { version: coreVersion() },
  };
  // Sensitive values: the sensitive variables, the environment variables that set them, and
  // (filled in as they are evaluated) the locals computed from any of these.
  const sensitiveVars = Object.entries(decls)
    .filter(([, d]) => isMap(d) && d.sensitive === true)
    .map(([name]) => name);
  const sensitive = {
    var: new Set(sensitiveVars),
    local: new Set<string>(),
    env: new Set(
      sensitiveVars.flatMap((n) => {
        const e = decls[n]?.env;
        return [`KILN_VAR_${n}`, `PKR_VAR_${n}`, ...(typeof e === "string" ? [e] : [])];
      }),
    ),
  };
  const scopeFor = (extra: Record<string, unknown>, deferredRoots: string[]): Scope => ({
    values: { ...values, ...extra },
    deferred: new Set(deferredRoots),
    members: { var: varNames, local: localNames, data: dataNames },
    sensitive,
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
  const derivedSecrets: unknown[] = [];
  if (!opts.syntaxOnly) {
    evaluateLocals(
      localsRaw,
      locals,
      () => scopeFor({ local: locals }, [...BUILD_TIME_ROOTS, "source"]),
      src,
      diags,
      hold,
      missing.local,
      sensitive.local,
      derivedSecrets,
    );
  }
  return {
    decls,
    variables,
    locals,
    sensitiveLocals: sensitive.local,
    derivedSecrets,
    masks,
    scopeFor,
    hold,
  };
}

/**
 * Values to redact from all output: the values and defaults of sensitive variables (every
 * string and number in them), and the values computed from them (of MIN_DERIVED_SECRET
 * characters or more) that do not already hold one of those verbatim: `upper(secret)` or
 * `base64encode(secret)` is redacted whole, `"user ${secret}"` only where the secret stands.
 */
export function secretsOf(values: Values): string[] {
  const secrets: string[] = [];
  for (const v of Object.values(values.variables)) if (v.sensitive) secrets.push(...secretStrings(v.value));
  for (const d of Object.values(values.decls))
    if (isMap(d) && d.sensitive === true) secrets.push(...secretStrings(d.default));
  // A derived value in which the registry already finds a secret (verbatim, base64, URL-encoded …)
  // is redacted where that stands; one it does not recognise (upper, sha256 …) is registered whole.
  const known = new SecretRegistry();
  for (const r of secrets) known.add(r);
  for (const v of values.derivedSecrets)
    for (const s of secretStrings(v, MIN_DERIVED_SECRET)) if (known.redact(s) === s) secrets.push(s);
  return [...new Set(secrets)];
}
