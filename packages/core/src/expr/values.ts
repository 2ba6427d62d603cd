/**
 * The values expressions compute with: string, number, bool, null, list (array) and map (plain
 * object). Helpers here never call into the values (no getters, no toJSON), never recurse deeper
 * than MAX_DEPTH, and never build a string longer than MAX_STRING_LENGTH.
 */
import { MAX_DEPTH, MAX_STRING_LENGTH } from "./limits.js";

export type ValueType = "string" | "number" | "bool" | "null" | "list" | "map" | "unsupported";

/** Names no expression may read, whatever object they are asked of. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(["__proto__", "constructor", "prototype"]);

/** Thrown by the helpers; the evaluator turns it into an ExprError at the node being evaluated. */
export class ValueError extends Error {
  constructor(
    readonly kind: "type" | "eval",
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

export function isPlainMap(v: unknown): v is Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

export function typeOf(v: unknown): ValueType {
  if (v === null || v === undefined) return "null";
  switch (typeof v) {
    case "string":
      return "string";
    case "number":
      return "number";
    case "boolean":
      return "bool";
    default:
      if (Array.isArray(v)) return "list";
      if (isPlainMap(v)) return "map";
      return "unsupported";
  }
}

/** Own, readable keys of a map, without the forbidden names. */
export function mapKeys(m: Record<string, unknown>): string[] {
  return Object.keys(m).filter((k) => !FORBIDDEN_KEYS.has(k));
}

/** The value of an own data property, or undefined. Never runs a getter. */
export function ownValue(o: object, key: string): { found: boolean; value: unknown } {
  if (FORBIDDEN_KEYS.has(key)) return { found: false, value: undefined };
  const d = Object.getOwnPropertyDescriptor(o, key);
  if (d === undefined || !("value" in d)) return { found: false, value: undefined };
  return { found: true, value: d.value };
}

export function checkLength(s: string): string {
  if (s.length > MAX_STRING_LENGTH) {
    throw new ValueError("eval", `Result is ${s.length} characters long; the limit is ${MAX_STRING_LENGTH}.`);
  }
  return s;
}

export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) throw new ValueError("eval", `Number ${String(n)} cannot be used.`);
  return Object.is(n, -0) ? "0" : String(n);
}

/** A value as text in a larger string: null is empty, lists and maps are JSON. */
export function toText(v: unknown): string {
  switch (typeOf(v)) {
    case "string":
      return v as string;
    case "number":
      return formatNumber(v as number);
    case "bool":
      return v ? "true" : "false";
    case "null":
      return "";
    case "list":
    case "map":
      return toJson(v);
    default:
      throw new ValueError("type", `A ${describeUnsupported(v)} cannot be turned into text.`);
  }
}

export function describeUnsupported(v: unknown): string {
  if (typeof v === "function") return "function";
  if (typeof v === "object" && v !== null) return `${(v as object).constructor?.name ?? "object"} object`;
  return typeof v;
}

/** JSON text of a value, bounded in depth and length. */
export function toJson(v: unknown): string {
  const out: string[] = [];
  let size = 0;
  const push = (s: string): void => {
    size += s.length;
    if (size > MAX_STRING_LENGTH) {
      throw new ValueError("eval", `Result is longer than the limit of ${MAX_STRING_LENGTH} characters.`);
    }
    out.push(s);
  };
  const walk = (x: unknown, depth: number): void => {
    if (depth > MAX_DEPTH)
      throw new ValueError("eval", `Value is nested more than ${MAX_DEPTH} levels deep.`);
    switch (typeOf(x)) {
      case "string":
        push(JSON.stringify(x));
        return;
      case "number":
        push(formatNumber(x as number));
        return;
      case "bool":
        push(x ? "true" : "false");
        return;
      case "null":
        push("null");
        return;
      case "list": {
        push("[");
        const list = x as unknown[];
        for (let i = 0; i < list.length; i++) {
          if (i > 0) push(",");
          walk(list[i], depth + 1);
        }
        push("]");
        return;
      }
      case "map": {
        push("{");
        let first = true;
        for (const k of mapKeys(x as Record<string, unknown>)) {
          if (!first) push(",");
          first = false;
          push(JSON.stringify(k));
          push(":");
          walk(ownValue(x as object, k).value, depth + 1);
        }
        push("}");
        return;
      }
      default:
        throw new ValueError("type", `A ${describeUnsupported(x)} cannot be turned into JSON.`);
    }
  };
  walk(v, 0);
  return out.join("");
}

/** Structural equality; numbers by value, lists by items, maps by keys and values. */
export function deepEqual(a: unknown, b: unknown, depth = 0): boolean {
  if (depth > MAX_DEPTH) throw new ValueError("eval", `Value is nested more than ${MAX_DEPTH} levels deep.`);
  const ta = typeOf(a);
  const tb = typeOf(b);
  if (ta !== tb) return false;
  switch (ta) {
    case "null":
      return true;
    case "string":
    case "number":
    case "bool":
      return a === b;
    case "list": {
      const la = a as unknown[];
      const lb = b as unknown[];
      if (la.length !== lb.length) return false;
      for (let i = 0; i < la.length; i++) if (!deepEqual(la[i], lb[i], depth + 1)) return false;
      return true;
    }
    case "map": {
      const ka = mapKeys(a as Record<string, unknown>);
      const kb = new Set(mapKeys(b as Record<string, unknown>));
      if (ka.length !== kb.size) return false;
      for (const k of ka) {
        if (!kb.has(k)) return false;
        if (!deepEqual(ownValue(a as object, k).value, ownValue(b as object, k).value, depth + 1))
          return false;
      }
      return true;
    }
    default:
      return a === b;
  }
}

/** Code points of a string (so lengths and splits do not cut surrogate pairs). */
export function codePoints(s: string): string[] {
  return Array.from(s);
}
