/** JSON Schema validation with ajv, every error turned into a positioned, actionable diagnostic. */

import type { ErrorObject } from "ajv";
import { closest, distance } from "fastest-levenshtein";
import { type Diagnostic, diagnostic } from "../errors.js";
import { formatPath, type PathSegment, positionOf, type SourceFile } from "../load/parse.js";
import { type JsonSchema, NAME_PATTERN } from "./base.js";
import { compileSchema } from "./compile.js";

export { compileSchema };

export interface ValidateOptions {
  /** Where `value` sits in the file: prefix for positions and paths. */
  basePath?: readonly PathSegment[];
  /** Paths (relative to value) whose value is an expression kept for build time: skip type checks there. */
  deferred?: (path: readonly PathSegment[]) => boolean;
  /** A label for unknown-key messages, e.g. "qemu option". */
  what?: string;
  /** Applied to a value before it is quoted (and cut to fit) in a message: secrets out first. */
  redact?: (text: string) => string;
}

/** Validate `value` against `schema`, returning diagnostics positioned in `src`. */
export function validateValue(
  schema: JsonSchema,
  value: unknown,
  src: SourceFile,
  opts: ValidateOptions = {},
): Diagnostic[] {
  const fn = compileSchema(schema);
  if (fn(value)) return [];
  return ajvToDiagnostics(fn.errors ?? [], value, src, opts, schema);
}

function splitPointer(pointer: string, value: unknown): PathSegment[] {
  if (pointer === "") return [];
  const out: PathSegment[] = [];
  let cur: unknown = value;
  for (const raw of pointer.slice(1).split("/")) {
    const seg = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (Array.isArray(cur) && /^\d+$/.test(seg)) {
      out.push(Number(seg));
      cur = cur[Number(seg)];
    } else {
      out.push(seg);
      cur = cur && typeof cur === "object" ? (cur as Record<string, unknown>)[seg] : undefined;
    }
  }
  return out;
}

function typeName(v: unknown, redact: (text: string) => string = (t) => t): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a map";
  if (typeof v === "string") {
    // Redact, then cut: a secret cut short would no longer be found.
    const shown = redact(v);
    return `a string (${JSON.stringify(shown.length > 40 ? `${shown.slice(0, 37)}...` : shown)})`;
  }
  if (typeof v === "number") return Number.isInteger(v) ? `a number (${v})` : `a number (${v})`;
  if (typeof v === "boolean") return `a boolean (${v})`;
  return typeof v;
}

const YAML_TYPE: Record<string, string> = {
  string: "a string",
  number: "a number",
  integer: "a whole number",
  boolean: "true or false",
  array: "a list",
  object: "a map",
  null: "null",
};

function getAt(value: unknown, path: readonly PathSegment[]): unknown {
  let cur = value;
  for (const seg of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string | number, unknown>)[seg];
  }
  return cur;
}

/** The closest of `candidates` to `word`, when it is close enough to be a likely typo. */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  if (candidates.length === 0) return undefined;
  const best = closest(word, candidates as string[]);
  const limit = Math.max(2, Math.floor(word.length / 3));
  return distance(word.toLowerCase(), best.toLowerCase()) <= limit ? best : undefined;
}

function listWords(words: readonly string[], max = 12): string {
  const shown = words.slice(0, max).join(", ");
  return words.length > max ? `${shown}, … (${words.length} in all)` : shown;
}

/** The schema an error's keyword sits in, found by following its schemaPath from the root. */
function parentSchemaOf(root: JsonSchema, e: ErrorObject): JsonSchema | undefined {
  const segs = e.schemaPath.replace(/^#\/?/, "").split("/").filter(Boolean).slice(0, -1);
  let cur: unknown = root;
  for (const raw of segs) {
    const seg = decodeURIComponent(raw.replace(/~1/g, "/").replace(/~0/g, "~"));
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string, unknown>)[seg];
  }
  return cur && typeof cur === "object" ? (cur as JsonSchema) : undefined;
}

function resolvePointer(root: JsonSchema, ref: string): unknown {
  let cur: unknown = root;
  for (const raw of ref.replace(/^#\/?/, "").split("/").filter(Boolean)) {
    let seg = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    try {
      seg = decodeURIComponent(seg);
    } catch {
      // a plugin's malformed $ref: take the segment as written
    }
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string, unknown>)[seg];
  }
  return cur;
}

/**
 * The schemas that apply at `path` of a value checked against `root`, following properties,
 * items, $ref and combinators. ajv's schemaPath is relative to a referenced definition when it
 * is compiled on its own, so it cannot always be followed from the root; the value's path can.
 */
function schemasAt(root: JsonSchema, path: readonly PathSegment[], start: unknown = root): JsonSchema[] {
  const expand = (s: unknown, out: JsonSchema[], depth = 0): void => {
    if (s === null || typeof s !== "object" || Array.isArray(s) || depth > 16 || out.length > 200) return;
    const sch = s as JsonSchema;
    out.push(sch);
    if (typeof sch.$ref === "string" && sch.$ref.startsWith("#"))
      expand(resolvePointer(root, sch.$ref), out, depth + 1);
    for (const k of ["anyOf", "oneOf", "allOf"]) {
      const list = sch[k];
      if (Array.isArray(list)) for (const branch of list) expand(branch, out, depth + 1);
    }
    if (sch.then) expand(sch.then, out, depth + 1);
  };
  let cur: JsonSchema[] = [];
  expand(start, cur);
  for (const seg of path) {
    const next: JsonSchema[] = [];
    for (const s of cur) {
      if (typeof seg === "number") {
        if (s.items && typeof s.items === "object" && !Array.isArray(s.items)) expand(s.items, next);
      } else {
        const props = s.properties as Record<string, unknown> | undefined;
        if (props && Object.hasOwn(props, seg)) expand(props[seg], next);
        else if (s.additionalProperties && typeof s.additionalProperties === "object")
          expand(s.additionalProperties, next);
      }
    }
    cur = next;
  }
  return cur;
}

/** The description of the schema an error is about, found by the value's path, else by schemaPath. */
function descriptionOf(root: JsonSchema, e: ErrorObject, rel: readonly PathSegment[]): string | undefined {
  const params = e.params as Record<string, unknown>;
  const candidates = schemasAt(root, rel).filter((s) => typeof s.description === "string");
  const best =
    candidates.find((s) => params.pattern === undefined || s.pattern === params.pattern) ?? candidates[0];
  return (
    (best?.description as string | undefined) ??
    (parentSchemaOf(root, e) as { description?: string } | undefined)?.description
  );
}

/** Whether schema `s` holds the keyword that raised `e`. */
function raises(s: JsonSchema, e: ErrorObject): boolean {
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case "type":
      return [s.type].flat().join(",") === String(params.type);
    case "required":
      return Array.isArray(s.required) && s.required.includes(params.missingProperty);
    case "additionalProperties":
      return s.additionalProperties === false;
    default:
      return e.keyword in s;
  }
}

/** Which branch of `union` (a list of schemas at instance path `at`) raised `e`. */
function branchOf(
  root: JsonSchema,
  union: unknown[],
  at: readonly PathSegment[],
  e: ErrorObject,
  value: unknown,
): string {
  const rel = splitPointer(e.instancePath, value).slice(at.length);
  const i = union.findIndex((branch) => schemasAt(root, rel, branch).some((s) => raises(s, e)));
  return i >= 0 ? String(i) : "$ref";
}

function under(path: string, parent: string): boolean {
  return path === parent || path.startsWith(`${parent}/`);
}

export function ajvToDiagnostics(
  errors: ErrorObject[],
  value: unknown,
  src: SourceFile,
  opts: ValidateOptions,
  root: JsonSchema,
): Diagnostic[] {
  const base = opts.basePath ?? [];
  // anyOf/oneOf: keep only the errors of the branch that got furthest, or one combined message.
  const unions = errors.filter((e) => e.keyword === "anyOf" || e.keyword === "oneOf");
  const drop = new Set<ErrorObject>();
  const extra: ErrorObject[] = [];
  for (const u of unions) {
    drop.add(u);
    const prefix = `${u.schemaPath}/`;
    // ajv reports a union's branch errors just before the union, at or below its path. Errors
    // from a $ref'd branch have a schemaPath relative to the definition, not below the union.
    const branchErrors: ErrorObject[] = [];
    for (let j = errors.indexOf(u) - 1; j >= 0; j--) {
      const e = errors[j] as ErrorObject;
      if (!under(e.instancePath, u.instancePath)) break;
      branchErrors.unshift(e);
    }
    const uPath = splitPointer(u.instancePath, value);
    const union =
      (schemasAt(root, uPath).find((s) => Array.isArray(s[u.keyword]))?.[u.keyword] as
        | unknown[]
        | undefined) ?? [];
    const byBranch = new Map<string, ErrorObject[]>();
    for (const e of branchErrors) {
      const branch = e.schemaPath.startsWith(prefix)
        ? (e.schemaPath.slice(prefix.length).split("/")[0] ?? "")
        : branchOf(root, union, uPath, e, value);
      byBranch.set(branch, [...(byBranch.get(branch) ?? []), e]);
      drop.add(e);
    }
    // A branch whose only complaint is the value's type at the union's own path did not match at all.
    const deeper = [...byBranch.values()].filter(
      (list) => !list.every((e) => e.instancePath === u.instancePath && e.keyword === "type"),
    );
    const allRequired = [...byBranch.values()].every(
      (list) =>
        list.length > 0 && list.every((e) => e.keyword === "required" && e.instancePath === u.instancePath),
    );
    if (byBranch.size > 1 && allRequired) {
      // anyOf: [{required: [a]}, {required: [b]} …] — "set one of a, b …"
      const keys = [...byBranch.values()]
        .flat()
        .map((e) => String((e.params as { missingProperty?: string }).missingProperty));
      extra.push({ ...u, keyword: "requiredOneOf", params: { keys: [...new Set(keys)] } });
    } else if (deeper.length > 0) {
      const best = deeper.sort((a, b) => a.length - b.length)[0] ?? [];
      extra.push(...best);
    } else {
      const types = [...byBranch.values()]
        .flat()
        .flatMap((e) => String((e.params as { type?: string }).type ?? "").split(","));
      const known = [...new Set(types.filter(Boolean))];
      if (known.length > 0) extra.push({ ...u, keyword: "type", params: { type: known.join(",") } });
      else extra.push(...branchErrors);
    }
  }
  const list = [...errors.filter((e) => !drop.has(e)), ...extra];
  const out: Diagnostic[] = [];
  const seen = new Set<string>();
  for (const e of list) {
    const rel = splitPointer(e.instancePath, value);
    if (opts.deferred?.(rel)) continue;
    const here = getAt(value, rel);
    let path = [...base, ...rel];
    let at: "key" | "value" = "value";
    let code = "KILN_SCHEMA";
    let message: string;
    let hint: string | undefined;
    const params = e.params as Record<string, unknown>;
    switch (e.keyword) {
      case "additionalProperties": {
        const key = String(params.additionalProperty);
        path = [...path, key];
        at = "key";
        code = "KILN_SCHEMA_UNKNOWN_KEY";
        const props = [
          ...new Set(
            schemasAt(root, rel).flatMap((s) => Object.keys((s.properties as object | undefined) ?? {})),
          ),
        ];
        const where = rel.length === 0 && opts.what ? opts.what : "key";
        message = `unknown ${where} "${key}"`;
        const close = suggest(key, props);
        hint = close
          ? `Did you mean "${close}"?`
          : props.length
            ? `valid keys here: ${listWords(props)}`
            : "remove it";
        break;
      }
      case "required": {
        const key = String(params.missingProperty);
        code = "KILN_SCHEMA_REQUIRED";
        message = `missing required key "${key}"`;
        hint = `Add \`${key}:\` to ${formatPath(path) || "the top level"}`;
        break;
      }
      case "type": {
        code = "KILN_SCHEMA_TYPE";
        const want = String(params.type)
          .split(",")
          .map((t) => YAML_TYPE[t] ?? t);
        message = `expected ${want.join(" or ")}, got ${typeName(here, opts.redact)}`;
        const wanted = String(params.type).split(",");
        if (typeof here === "string") {
          const num = here.trim() !== "" && Number.isFinite(Number(here));
          if (
            (wanted.includes("number") && num) ||
            (wanted.includes("integer") && num && Number.isInteger(Number(here)))
          ) {
            hint = "Write the number without quotes.";
          } else if (wanted.includes("boolean") && (here === "true" || here === "false")) {
            hint = "Write true or false without quotes.";
          } else if (wanted.includes("boolean")) {
            hint = "Write true or false (YAML 1.2 reads yes, no, on and off as text).";
          }
        } else if (wanted.includes("string") && (typeof here === "number" || typeof here === "boolean")) {
          hint = "Put the value in quotes to keep it as text.";
        } else if (wanted.includes("string") && here === null) {
          hint = 'YAML reads null, ~ and an empty value as "no value": write "null" in quotes for the text.';
        }
        break;
      }
      case "enum":
      case "const": {
        code = "KILN_SCHEMA_ENUM";
        const allowed = (
          e.keyword === "enum" ? (params.allowedValues as unknown[]) : [params.allowedValue]
        ).map((v) => JSON.stringify(v));
        message = `${typeName(here, opts.redact)} is not allowed here`;
        const close = typeof here === "string" ? suggest(JSON.stringify(here), allowed) : undefined;
        // `type: null`, `on`, `1`: YAML read the bare word as another type; quoting keeps it text.
        const asText = here === null || typeof here !== "object" ? JSON.stringify(String(here)) : undefined;
        const quote = typeof here !== "string" && asText !== undefined && allowed.includes(asText);
        hint = close
          ? `Did you mean ${close}? Allowed: ${listWords(allowed)}`
          : quote
            ? `Write ${asText} in quotes: YAML reads the bare word as ${here === null ? "no value" : `the ${typeof here} ${String(here)}`}.`
            : here === null
              ? `Allowed: ${listWords(allowed)}. (YAML reads a bare null, ~ or empty value as "no value".)`
              : `Allowed: ${listWords(allowed)}.`;
        break;
      }
      case "pattern":
      case "format": {
        code = "KILN_SCHEMA_FORMAT";
        const desc = e.propertyName === undefined ? descriptionOf(root, e, rel) : undefined;
        if (e.propertyName !== undefined) {
          // propertyNames: the key itself is malformed
          path = [...path, e.propertyName];
          at = "key";
          message = `name "${e.propertyName}" is not allowed: names start with a letter or _ and hold letters, digits, _ and -`;
        } else if (params.pattern === NAME_PATTERN && typeof here === "string") {
          message = `name "${here}" is not allowed: names start with a letter or _ and hold letters, digits, _ and -`;
        } else {
          message = `${typeName(here, opts.redact)} does not have the expected form`;
        }
        const duration = /\(ns\|us\|/.test(String(params.pattern ?? ""))
          ? "A duration such as 30s, 5m or 1h30m."
          : undefined;
        hint = desc ?? duration ?? `It must match ${String(params.pattern ?? params.format)}.`;
        break;
      }
      case "uniqueItems": {
        // ajv: item i repeats the earlier item j; point at the repeat
        const i = Number(params.i);
        const j = Number(params.j);
        const [later, earlier] = i > j ? [i, j] : [j, i];
        path = [...path, later];
        code = "KILN_DUPLICATE_NAME";
        const item = Array.isArray(here) ? here[later] : undefined;
        message = `${typeof item === "string" ? `"${item}"` : `item ${later}`} is listed twice (also at [${earlier}])`;
        hint = "List each entry once.";
        break;
      }
      case "requiredOneOf": {
        const keys = (params.keys as string[]).map((k) => `"${k}"`);
        code = "KILN_SCHEMA_REQUIRED";
        message = `missing one of ${keys.join(", ")}`;
        hint = `Add one of ${keys.join(", ")} to ${formatPath(path) || "the top level"}.`;
        break;
      }
      case "not": {
        // a property that must not be set here; its schema's description says why
        at = "key";
        code = "KILN_SCHEMA_CONFLICT";
        const why = (parentSchemaOf(root, e) as { description?: string } | undefined)?.description;
        message = why ?? "this key is not allowed together with the others set here";
        break;
      }
      case "if":
        continue; // reported by the errors of its "then"
      case "propertyNames":
        continue; // reported by its inner pattern error
      case "minimum":
      case "maximum":
      case "exclusiveMinimum":
      case "exclusiveMaximum":
      case "minItems":
      case "maxItems":
      case "minLength":
      case "maxLength":
      case "minProperties":
      case "maxProperties":
        code = "KILN_SCHEMA_RANGE";
        message = `${typeName(here, opts.redact)} ${e.message ?? "is out of range"}`;
        hint = descriptionOf(root, e, rel);
        break;
      default:
        message = e.message ?? "invalid value";
    }
    const pos = positionOf(src, path, at);
    const d = diagnostic(code, message, { path: formatPath(path), pos, ...(hint ? { hint } : {}) });
    const key = `${d.path}|${d.code}|${d.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(d);
  }
  return out;
}
