/** Evaluating the `${{ … }}` expressions found anywhere in a tree of values from a file. */
import { type Diagnostic, diagnostic } from "../errors.js";
import {
  checkTemplate,
  DEFERRED,
  Deferred,
  type ExprError,
  evaluateTracked,
  hasExpressions,
  parseTemplate,
  references,
  type Scope,
  type Template,
} from "../expr/index.js";
import { setOwn } from "../util/own.js";
import { formatPath, type PathSegment, positionInScalar, type SourceFile } from "./parse.js";
import { placeholderDiagnostics } from "./placeholders.js";

export interface TreeResult {
  /**
   * The tree with every expression evaluated: plain data, except `Deferred` markers where a
   * string needs build-time values. Nothing in it is ever parsed as an expression again.
   */
  value: unknown;
  /** Paths (relative to the tree) of the `Deferred` markers (and strings held back). */
  deferred: PathSegment[][];
  /** Results computed from a sensitive value (markers that will give one included). */
  sensitive: unknown[];
}

/** Parse a template, turning a syntax error into a diagnostic at its place in the file. */
export function parseAt(
  text: string,
  src: SourceFile,
  path: readonly PathSegment[],
  diags: Diagnostic[],
): Template | undefined {
  try {
    return parseTemplate(text);
  } catch (err) {
    diags.push(exprDiagnostic(err, src, path));
    return undefined;
  }
}

export function exprDiagnostic(err: unknown, src: SourceFile, path: readonly PathSegment[]): Diagnostic {
  const e = err as Partial<ExprError> & { message?: string };
  const code = typeof e.code === "string" ? e.code : "KILN_EXPR_EVAL";
  return diagnostic(code, e.message ?? String(err), {
    path: formatPath(path),
    pos: positionInScalar(src, path, typeof e.offset === "number" ? e.offset : 0),
    ...(e.hint ? { hint: e.hint } : {}),
  });
}

/**
 * Evaluate every expression in `value` (found at `basePath` in `src`). Problems are pushed to
 * `diags`; a string whose expression fails is left as it was. With `checkOnly`, names are
 * checked and nothing is evaluated.
 */
export function evaluateTree(
  value: unknown,
  basePath: readonly PathSegment[],
  scope: Scope,
  src: SourceFile,
  diags: Diagnostic[],
  checkOnly = false,
  /** Expressions for which this is true are checked but not evaluated (they need values that are missing). */
  hold?: (t: Template) => boolean,
): TreeResult {
  const deferred: PathSegment[][] = [];
  const sensitive: unknown[] = [];
  const visit = (v: unknown, rel: PathSegment[]): unknown => {
    if (typeof v === "string") {
      if (v.includes("{{")) diags.push(...placeholderDiagnostics(v, src, [...basePath, ...rel]));
      if (!hasExpressions(v)) return v;
      const path = [...basePath, ...rel];
      const t = parseAt(v, src, path, diags);
      if (!t) return v;
      const problems = checkTemplate(t, scope);
      if (problems.length > 0) {
        for (const p of problems) diags.push(exprDiagnostic(p, src, path));
        return v;
      }
      if (checkOnly || hold?.(t)) {
        deferred.push(rel);
        return v;
      }
      try {
        const out = evaluateTracked(t, scope);
        if (out.value === DEFERRED) {
          deferred.push(rel);
          const marker = new Deferred(v, t, out.sensitive || readsSensitive(t, scope));
          if (marker.sensitive) sensitive.push(marker);
          return marker;
        }
        if (out.sensitive) sensitive.push(out.value);
        return out.value;
      } catch (err) {
        diags.push(exprDiagnostic(err, src, path));
        return v;
      }
    }
    if (Array.isArray(v)) return v.map((item, i) => visit(item, [...rel, i]));
    if (v !== null && typeof v === "object") {
      const out: Record<string, unknown> = {};
      // As own keys: `out["__proto__"] = …` would set the prototype (a hidden merge).
      for (const [k, item] of Object.entries(v)) setOwn(out, k, visit(item, [...rel, k]));
      return out;
    }
    return v;
  };
  return { value: visit(value, []), deferred, sensitive };
}

/** True when the template names a sensitive value (or reads a root holding one by a computed key). */
export function readsSensitive(t: Template, scope: Scope): boolean {
  const s = scope.sensitive;
  if (!s) return false;
  return references(t).some((r) =>
    r.member !== undefined ? s[r.root]?.has(r.member) === true : (s[r.root]?.size ?? 0) > 0,
  );
}

/** True when `path` is one of `deferred` or lies below one. */
export function isUnder(path: readonly PathSegment[], deferred: readonly PathSegment[][]): boolean {
  return deferred.some((d) => d.length <= path.length && d.every((seg, i) => seg === path[i]));
}
