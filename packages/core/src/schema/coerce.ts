/**
 * Packer's conversions and zero values, applied to a component's evaluated options before they
 * are checked against its schema:
 *
 * - a string that is a number or a bool where the schema wants one (and not a string) converts,
 *   as HCL converts `memory = "2048"` or a string variable: `"2048"` → 2048, `"false"` → false;
 * - an option whose value is null is unset (HCL's "include this only if" pattern);
 * - an empty string is unset for an optional option that takes a string, as Packer's zero values.
 *
 * Anything else is left as it is, so the schema check still reports it at its position. Values
 * kept for build time (Deferred markers) are left alone. Pure: the input is not modified.
 */
import { isDeferred } from "../expr/deferred.js";
import type { JsonSchema } from "./base.js";

type Kinds = Set<string>;

/** The JSON types a schema accepts (through anyOf/oneOf and enum/const), or undefined for any. */
function kinds(s: JsonSchema | undefined, root: JsonSchema, depth = 0): Kinds | undefined {
  if (!s || typeof s !== "object" || depth > 16) return undefined;
  if (typeof s.$ref === "string") return kinds(resolve(root, s.$ref), root, depth + 1);
  const out: Kinds = new Set();
  const t = s.type;
  if (typeof t === "string") out.add(t);
  else if (Array.isArray(t)) for (const x of t) out.add(String(x));
  for (const key of ["anyOf", "oneOf"]) {
    const list = s[key];
    if (!Array.isArray(list)) continue;
    for (const b of list) {
      const k = kinds(b as JsonSchema, root, depth + 1);
      if (k === undefined) return undefined;
      for (const x of k) out.add(x);
    }
  }
  const values = Array.isArray(s.enum) ? s.enum : "const" in s ? [s.const] : [];
  for (const v of values) out.add(v === null ? "null" : typeof v === "boolean" ? "boolean" : typeof v);
  if (out.has("integer")) out.add("number-integer");
  return out.size > 0 ? out : undefined;
}

function resolve(root: JsonSchema, ref: string): JsonSchema | undefined {
  let cur: unknown = root;
  for (const seg of ref.replace(/^#\/?/, "").split("/").filter(Boolean)) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string, unknown>)[seg.replace(/~1/g, "/").replace(/~0/g, "~")];
  }
  return cur && typeof cur === "object" ? (cur as JsonSchema) : undefined;
}

/** The schemas that describe a value's properties and items (its own and its branches'). */
function branches(s: JsonSchema | undefined, root: JsonSchema, depth = 0): JsonSchema[] {
  if (!s || typeof s !== "object" || depth > 16) return [];
  if (typeof s.$ref === "string") return branches(resolve(root, s.$ref), root, depth + 1);
  const out = [s];
  for (const key of ["anyOf", "oneOf", "allOf"]) {
    const list = s[key];
    if (Array.isArray(list)) for (const b of list) out.push(...branches(b as JsonSchema, root, depth + 1));
  }
  return out;
}

const NUMBER = /^\s*-?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$/;

/** A string converted to what the schema wants, or the string itself. */
function convertString(v: string, k: Kinds | undefined): unknown {
  if (!k || k.has("string")) return v;
  if (k.has("integer") && /^\s*-?\d+\s*$/.test(v)) return Number(v);
  if (k.has("number") && NUMBER.test(v) && Number.isFinite(Number(v))) return Number(v);
  if (k.has("boolean") && (v === "true" || v === "false")) return v === "true";
  return v;
}

const UNSET = Symbol("unset");

function walk(
  s: JsonSchema | undefined,
  v: unknown,
  root: JsonSchema,
  required: boolean,
  depth: number,
): unknown {
  if (isDeferred(v) || depth > 64) return v;
  const k = kinds(s, root);
  if (v === null) return k === undefined || k.has("null") || required ? v : UNSET;
  if (typeof v === "string") {
    if (v === "" && !required && k?.has("string")) return UNSET;
    return convertString(v, k);
  }
  const all = branches(s, root);
  if (Array.isArray(v)) {
    const items = all.map((b) => b.items).find((i) => i && typeof i === "object" && !Array.isArray(i)) as
      | JsonSchema
      | undefined;
    if (!items) return v;
    return v.map((x) => {
      const r = walk(items, x, root, true, depth + 1);
      return r === UNSET ? x : r;
    });
  }
  if (v !== null && typeof v === "object") {
    const props: Record<string, JsonSchema> = {};
    const req = new Set<string>();
    let extra: JsonSchema | undefined;
    for (const b of all) {
      Object.assign(props, (b.properties as Record<string, JsonSchema> | undefined) ?? {});
      if (Array.isArray(b.required)) for (const r of b.required) req.add(String(r));
      if (b.additionalProperties && typeof b.additionalProperties === "object")
        extra = b.additionalProperties as JsonSchema;
    }
    const out: Record<string, unknown> = {};
    for (const [key, x] of Object.entries(v)) {
      const sub = Object.hasOwn(props, key) ? props[key] : extra;
      if (!sub) {
        Object.defineProperty(out, key, { value: x, enumerable: true, writable: true, configurable: true });
        continue;
      }
      // Only declared options are unset by null or "" (a map of the user's own keys keeps them).
      const r = walk(sub, x, root, req.has(key) || !Object.hasOwn(props, key) || key === "type", depth + 1);
      if (r === UNSET) continue;
      Object.defineProperty(out, key, { value: r, enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return v;
}

/** `options` with Packer's conversions and zero values applied for `schema` (see above). */
export function coerceOptions(schema: JsonSchema, options: Record<string, unknown>): Record<string, unknown> {
  const r = walk(schema, options, schema, true, 0);
  return r as Record<string, unknown>;
}
