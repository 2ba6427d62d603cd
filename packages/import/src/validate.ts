/**
 * The output checked as `kiln validate` checks it (plugins' schemas, expressions, references),
 * without writing it: loaded from its text, under the name and folder it will have.
 */
import {
  checkStructure,
  type Diagnostic,
  isKilnError,
  loadBuildFile,
  parseYaml,
  type ResolverOptions,
} from "@kiln/core";

export type Resolver = Omit<ResolverOptions, "fromDir" | "plugins">;

export interface Validation {
  errors: Diagnostic[];
  warnings: Diagnostic[];
  /** Values of secrets in the diagnostics, for redaction when they are printed. */
  secrets: string[];
}

/** Problems `kiln validate --var-file …` would report for `text` written at `file`. */
export function validateText(
  text: string,
  file: string,
  varFiles: readonly string[],
  resolver: Resolver,
  env: Record<string, string | undefined> = process.env,
): Validation {
  try {
    const structure = checkStructure(parseYaml(text, file));
    const loaded = loadBuildFile({ file, structure, varFiles: [...varFiles], resolver, env });
    return {
      errors: [],
      warnings: [...((loaded as { warnings?: Diagnostic[] }).warnings ?? [])],
      secrets: [],
    };
  } catch (err) {
    if (!isKilnError(err)) throw err;
    const diags: Diagnostic[] = err.diagnostics.length
      ? err.diagnostics
      : [
          {
            code: err.code,
            severity: "error",
            message: err.message,
            ...(err.hint ? { hint: err.hint } : {}),
          },
        ];
    return {
      errors: diags.filter((d) => d.severity === "error"),
      warnings: diags.filter((d) => d.severity !== "error"),
      secrets: [...err.secrets],
    };
  }
}

/** `a.b[0]["x y"].c` (core's formatPath) → segments. */
export function parsePath(path: string): Array<string | number> {
  const out: Array<string | number> = [];
  const re = /\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]|\.?([A-Za-z_][\w-]*)/g;
  for (let m = re.exec(path); m !== null; m = re.exec(path)) {
    if (m[1] !== undefined) out.push(Number(m[1]));
    else if (m[2] !== undefined) out.push(JSON.parse(m[2]) as string);
    else if (m[3] !== undefined) out.push(m[3]);
  }
  return out;
}

/** Diagnostics that mean "kiln has no such thing": the entry they point at is commented out. */
export function meansNoEquivalent(d: Diagnostic): boolean {
  return (
    d.code === "KILN_SCHEMA_UNKNOWN_KEY" ||
    d.code === "KILN_EXPR_UNKNOWN_FUNCTION" ||
    /\bnot supported yet\b/.test(d.message)
  );
}
