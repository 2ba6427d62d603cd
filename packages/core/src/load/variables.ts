/**
 * Input variables: declarations, values from every place (default < env binding < PKR_VAR_x <
 * KILN_VAR_x < --var-file in order < --var in order), type checks and coercion, and validation
 * conditions.
 */
import { existsSync } from "node:fs";
import { extname } from "node:path";
import { type Diagnostic, diagnostic, KilnError } from "../errors.js";
import { checkTemplate, evaluateTracked, hasExpressions, references, type Scope } from "../expr/index.js";
import { suggest } from "../schema/validate.js";
import { exprDiagnostic, parseAt } from "./expand.js";
import {
  formatPath,
  loadYamlFile,
  type PathSegment,
  parseYaml,
  positionOf,
  type SourceFile,
} from "./parse.js";
import { scanPlaceholders } from "./placeholders.js";
import { sensitiveLines } from "./sensitive-lines.js";

export type VariableType = "string" | "number" | "bool" | "list" | "map";
const VARIABLE_TYPES: readonly string[] = ["string", "number", "bool", "list", "map"];
const DECL_KEYS: readonly string[] = ["type", "description", "default", "sensitive", "env", "validation"];

export interface VariableDecl {
  type?: VariableType;
  description?: string;
  default?: unknown;
  sensitive?: boolean;
  env?: string;
  validation?:
    | { condition: string; error_message: string }
    | Array<{ condition: string; error_message: string }>;
}

export type ValueOrigin = "default" | "env" | "PKR_VAR" | "KILN_VAR" | "var-file" | "var";

export interface VariableValue {
  name: string;
  decl: VariableDecl;
  value: unknown;
  /** Where the value came from; undefined when it has none. */
  origin?: ValueOrigin;
  /** File or argument the value came from, for `inspect`. */
  from?: string;
  sensitive: boolean;
  /** A value was given but had the wrong type (already reported). */
  invalid?: boolean;
}

export interface VariableInputs {
  /** `--var name=value` arguments, in order. */
  vars?: string[];
  /** `--var-file` paths, in order. */
  varFiles?: string[];
  env?: Record<string, string | undefined>;
}

/** Coerce a value to a declared type; returns undefined and an explanation when it cannot. */
export function coerce(
  value: unknown,
  type: VariableType,
  fromText: boolean,
): { ok: true; value: unknown } | { ok: false; why: string } {
  // As in Packer, any variable may be null (`default: null`): options set from it are unset.
  if (value === null && !fromText) return { ok: true, value: null };
  switch (type) {
    case "string":
      if (typeof value === "string") return { ok: true, value };
      if (typeof value === "number" || typeof value === "boolean") return { ok: true, value: String(value) };
      return { ok: false, why: `expected a string, got ${describe(value)}` };
    case "number":
      if (typeof value === "number" && Number.isFinite(value)) return { ok: true, value };
      // As HCL: a string that is a number converts (a default or a variables file may quote it).
      if (typeof value === "string" && value.trim() !== "" && Number.isFinite(Number(value))) {
        return { ok: true, value: Number(value) };
      }
      return { ok: false, why: `expected a number, got ${describe(value)}` };
    case "bool":
      if (typeof value === "boolean") return { ok: true, value };
      if (value === "true" || value === "false") return { ok: true, value: value === "true" };
      return { ok: false, why: `expected true or false, got ${describe(value)}` };
    case "list":
    case "map": {
      let v = value;
      if (fromText && typeof v === "string") {
        try {
          v = parseYaml(v, "--var").value;
        } catch {
          return {
            ok: false,
            why: `expected a ${type} written in YAML/JSON flow style, e.g. ${type === "list" ? "[a, b]" : "{a: 1}"}`,
          };
        }
      }
      if (type === "list" && Array.isArray(v)) return { ok: true, value: v };
      if (type === "map" && v !== null && typeof v === "object" && !Array.isArray(v))
        return { ok: true, value: v };
      return { ok: false, why: `expected a ${type}, got ${describe(v)}` };
    }
  }
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return "nothing";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a map";
  if (typeof v === "string")
    return `the string ${JSON.stringify(v.length > 30 ? `${v.slice(0, 27)}...` : v)}`;
  return `${typeof v === "number" ? "the number" : "the value"} ${String(v)}`;
}

/** Resolve every declared variable's value, collecting every problem into `diags`. */
export function resolveVariables(
  decls: Record<string, VariableDecl>,
  src: SourceFile,
  inputs: VariableInputs,
  diags: Diagnostic[],
  requireValues: boolean,
  /** Filled with the lines of each file read that hold sensitive values. */
  masks: Map<string, Set<number>> = new Map(),
): Record<string, VariableValue> {
  const env = inputs.env ?? process.env;
  const names = Object.keys(decls);
  // No prototype: a variable may be called `toString` or `__proto__`.
  const out: Record<string, VariableValue> = Object.create(null);
  for (const [name, decl] of Object.entries(decls)) {
    out[name] = { name, decl, value: undefined, sensitive: decl.sensitive === true };
    if ("default" in decl) {
      let value = decl.default;
      if (typeof decl.default === "string" && hasExpressions(decl.default)) {
        // As Packer: a default may read the environment (env("X"), env.X) and use functions,
        // nothing else (no var.*, local.*: those are computed in locals).
        const envOnly = defaultFromEnv(decl.default, env, src, ["variables", name, "default"], diags);
        if (envOnly.ok) value = envOnly.value;
        else if (!envOnly.reported)
          diags.push(
            diagnostic(
              "KILN_EXPR_EVAL",
              `the default of variable "${name}" uses an expression that reads more than the environment`,
              {
                path: `variables.${name}.default`,
                pos: positionOf(src, ["variables", name, "default"]),
                hint: 'A default may use env("X") and functions; compute values from var.* in `locals:` instead.',
              },
            ),
          );
      }
      scanPlaceholders(decl.default, src, ["variables", name, "default"], diags);
      setValue(out, name, value, "default", `${src.file}`, false, src, ["variables", name, "default"], diags);
    }
  }
  for (const [name, decl] of Object.entries(decls)) {
    if (decl.env && env[decl.env] !== undefined)
      setValue(out, name, env[decl.env], "env", `$${decl.env}`, true, undefined, undefined, diags);
    // Packer's PKR_VAR_<name> is read too; KILN_VAR_<name> wins when both are set.
    const p = env[`PKR_VAR_${name}`];
    if (p !== undefined)
      setValue(out, name, p, "PKR_VAR", `$PKR_VAR_${name}`, true, undefined, undefined, diags);
    const k = env[`KILN_VAR_${name}`];
    if (k !== undefined)
      setValue(out, name, k, "KILN_VAR", `$KILN_VAR_${name}`, true, undefined, undefined, diags);
  }
  const sensitiveNames = new Set(
    Object.entries(decls)
      .filter(([, d]) => d.sensitive === true)
      .map(([n]) => n),
  );
  for (const file of inputs.varFiles ?? []) {
    const vf = loadVarFile(file, diags, sensitiveNames);
    if (!vf) continue;
    masks.set(vf.file, sensitiveLines(vf.text, sensitiveNames));
    const map = vf.value;
    if (map === null || typeof map !== "object" || Array.isArray(map)) {
      diags.push(
        diagnostic("KILN_SCHEMA_TYPE", `${file} must be a map of variable names to values`, {
          pos: positionOf(vf, []),
        }),
      );
      continue;
    }
    for (const [name, v] of Object.entries(map)) {
      if (!Object.hasOwn(decls, name)) {
        // As Packer: a variables file may set more than this build file declares (a warning).
        const close = suggest(name, names);
        diags.push(
          diagnostic(
            "KILN_VAR_UNDEFINED",
            `variable "${name}" is set in ${file} but not declared in ${src.file}; it is ignored`,
            {
              severity: "warning",
              path: name,
              pos: positionOf(vf, [name], "key"),
              hint: close
                ? `Did you mean "${close}"?`
                : `declare it under \`variables:\` in ${src.file} to use it`,
            },
          ),
        );
        continue;
      }
      scanPlaceholders(v, vf, [name], diags);
      setValue(out, name, v, "var-file", file, false, vf, [name], diags);
    }
  }
  for (const arg of inputs.vars ?? []) {
    const eq = arg.indexOf("=");
    if (eq <= 0) {
      diags.push(
        diagnostic("KILN_VAR_ARG", `--var "${redactArg(arg)}" is not name=value`, { path: "--var" }),
      );
      continue;
    }
    const name = arg.slice(0, eq);
    if (!Object.hasOwn(decls, name)) {
      const close = suggest(name, names);
      diags.push(
        diagnostic("KILN_VAR_UNDEFINED", `--var ${name}: no variable "${name}" is declared in ${src.file}`, {
          path: "--var",
          hint: close ? `Did you mean "${close}"?` : `declare it under \`variables:\` in ${src.file}`,
        }),
      );
      continue;
    }
    setValue(out, name, arg.slice(eq + 1), "var", "--var", true, undefined, undefined, diags);
  }
  if (requireValues) {
    for (const v of Object.values(out)) {
      // A declaration with an unknown key (a misspelt `default:`) is reported by the schema check.
      const misspelt = Object.keys(v.decl).some((k) => !DECL_KEYS.includes(k));
      if (v.origin === undefined && !v.invalid && !misspelt) {
        const envHint = v.decl.env ? `, set $${v.decl.env}` : "";
        diags.push(
          diagnostic("KILN_VAR_MISSING", `variable "${v.name}" has no value`, {
            path: `variables.${v.name}`,
            pos: positionOf(src, ["variables", v.name], "key"),
            hint: `Give it a default, pass --var ${v.name}=…${envHint}, set $KILN_VAR_${v.name} (or $PKR_VAR_${v.name}), or put it in a --var-file.`,
          }),
        );
      }
    }
  }
  return out;
}

/** A default written as an expression over the environment only: its value, or why not. */
function defaultFromEnv(
  text: string,
  env: Record<string, string | undefined>,
  src: SourceFile,
  path: PathSegment[],
  diags: Diagnostic[],
): { ok: true; value: unknown } | { ok: false; reported: boolean } {
  const t = parseAt(text, src, path, diags);
  if (!t) return { ok: false, reported: true };
  if (references(t).some((r) => r.root !== "env")) return { ok: false, reported: false };
  const scope: Scope = {
    values: { env: Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined)) },
    deferred: new Set(),
    baseDir: src.file.replace(/[^/]*$/, ""),
  };
  const problems = checkTemplate(t, scope);
  if (problems.length > 0) {
    for (const p of problems) diags.push(exprDiagnostic(p, src, path));
    return { ok: false, reported: true };
  }
  try {
    return { ok: true, value: evaluateTracked(t, scope).value };
  } catch (err) {
    diags.push(exprDiagnostic(err, src, path));
    return { ok: false, reported: true };
  }
}

function redactArg(arg: string): string {
  return arg.length > 40 ? `${arg.slice(0, 37)}...` : arg;
}

function loadVarFile(
  file: string,
  diags: Diagnostic[],
  sensitiveKeys: ReadonlySet<string>,
): SourceFile | undefined {
  if (!existsSync(file)) {
    diags.push(diagnostic("KILN_FILE_NOT_FOUND", `--var-file ${file}: no such file`, { path: "--var-file" }));
    return undefined;
  }
  const ext = extname(file).toLowerCase();
  if (![".yaml", ".yml", ".json"].includes(ext)) {
    diags.push(
      diagnostic("KILN_USAGE", `--var-file ${file}: expected a .yaml, .yml or .json file`, {
        path: "--var-file",
        hint: "Variables files are YAML or JSON maps of name: value.",
      }),
    );
    return undefined;
  }
  try {
    return loadYamlFile(file, { sensitiveKeys });
  } catch (err) {
    if (err instanceof KilnError) {
      diags.push(...(err.diagnostics.length ? err.diagnostics : [diagnostic(err.code, err.message)]));
      return undefined;
    }
    throw err;
  }
}

function setValue(
  out: Record<string, VariableValue>,
  name: string,
  raw: unknown,
  origin: ValueOrigin,
  from: string,
  fromText: boolean,
  src: SourceFile | undefined,
  path: PathSegment[] | undefined,
  diags: Diagnostic[],
): void {
  const v = Object.hasOwn(out, name) ? out[name] : undefined;
  if (!v) return;
  const type = v.decl.type ?? "string";
  // An unknown type is reported by the schema check; take the value as it is.
  const c = VARIABLE_TYPES.includes(type) ? coerce(raw, type, fromText) : { ok: true as const, value: raw };
  if (!c.ok) {
    v.invalid = true;
    diags.push(
      diagnostic(
        "KILN_VAR_TYPE",
        `variable "${name}" from ${from}: ${v.sensitive ? `expected a ${type}` : c.why}`,
        {
          path: path ? formatPath(path) : `variables.${name}`,
          ...(src && path ? { pos: positionOf(src, path) } : {}),
          hint: `"${name}" is declared as type ${type}.`,
        },
      ),
    );
    return;
  }
  v.value = c.value;
  v.origin = origin;
  v.from = from;
}

/** Run every variable's validation conditions with all values bound. */
export function validateVariables(
  values: Record<string, VariableValue>,
  src: SourceFile,
  baseScope: Omit<Scope, "values">,
  diags: Diagnostic[],
): void {
  const varValues = Object.fromEntries(Object.values(values).map((v) => [v.name, v.value]));
  for (const v of Object.values(values)) {
    if (v.origin === undefined || !v.decl.validation) continue;
    const rules = Array.isArray(v.decl.validation) ? v.decl.validation : [v.decl.validation];
    rules.forEach((rule, i) => {
      const path: PathSegment[] = Array.isArray(v.decl.validation)
        ? ["variables", v.name, "validation", i, "condition"]
        : ["variables", v.name, "validation", "condition"];
      if (typeof rule?.condition !== "string") return;
      const t = parseAt(rule.condition, src, path, diags);
      if (!t) return;
      const scope: Scope = {
        ...baseScope,
        values: { ...(baseScope as Scope & { values?: object }).values, var: varValues },
      };
      const problems = checkTemplate(t, scope);
      if (problems.length) {
        for (const p of problems) diags.push(exprDiagnostic(p, src, path));
        return;
      }
      let result: unknown;
      let sensitive: boolean;
      try {
        ({ value: result, sensitive } = evaluateTracked(t, scope));
      } catch (err) {
        diags.push(exprDiagnostic(err, src, path));
        return;
      }
      if (typeof result !== "boolean") {
        const got = sensitive || v.sensitive ? "a sensitive value" : describe(result);
        diags.push(
          diagnostic(
            "KILN_EXPR_TYPE",
            `the validation condition of "${v.name}" must be true or false, got ${got}`,
            {
              path: formatPath(path),
              pos: positionOf(src, path),
              hint: "Write a comparison, e.g. ${{ length(var.x) > 0 }}.",
            },
          ),
        );
        return;
      }
      if (!result) {
        const shown = v.sensitive ? "(sensitive value)" : JSON.stringify(v.value);
        diags.push(
          diagnostic(
            "KILN_VAR_VALIDATION",
            `variable "${v.name}" = ${shown} (from ${v.from}): ${rule.error_message}`,
            {
              path: formatPath(path),
              pos: positionOf(src, path),
              hint: `Pass a value that meets the condition, e.g. --var ${v.name}=…`,
            },
          ),
        );
      }
    });
  }
}
