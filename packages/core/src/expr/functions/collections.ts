/** Lists and maps: coalesce, length, contains, keys, values, lookup, concat. */
import { MAX_COLLECTION_SIZE } from "../limits.js";
import { codePoints, deepEqual, mapKeys, ownValue, typeOf } from "../values.js";
import { evalError, type FunctionDef } from "./args.js";

export const COLLECTION_FUNCTIONS: Array<[string, FunctionDef]> = [
  [
    "coalesce",
    {
      params: "vals…",
      min: 1,
      max: Number.POSITIVE_INFINITY,
      call: (a) => {
        for (const v of a.values) if (v !== null && v !== undefined && v !== "") return v;
        throw evalError(
          "coalesce",
          "every argument is null or an empty string.",
          undefined,
          "Add a non-empty last argument as a default.",
        );
      },
    },
  ],
  [
    "length",
    {
      params: "value",
      min: 1,
      max: 1,
      call: (a) => {
        const v = a.values[0];
        const t = typeOf(v);
        if (t === "string") return codePoints(v as string).length;
        if (t === "list") return (v as unknown[]).length;
        if (t === "map") return mapKeys(v as Record<string, unknown>).length;
        throw a.typeError(0, "a string, list or map");
      },
    },
  ],
  [
    "contains",
    {
      params: "list_or_string, value",
      min: 2,
      max: 2,
      call: (a) => {
        const c = a.values[0];
        if (typeof c === "string") return c.includes(a.str(1));
        if (Array.isArray(c)) return c.some((v) => deepEqual(v, a.values[1]));
        throw a.typeError(0, "a list or a string");
      },
    },
  ],
  ["keys", { params: "map", min: 1, max: 1, call: (a) => mapKeys(a.map(0)).sort() }],
  [
    "values",
    {
      params: "map",
      min: 1,
      max: 1,
      call: (a) => {
        const m = a.map(0);
        return mapKeys(m)
          .sort()
          .map((k) => ownValue(m, k).value ?? null);
      },
    },
  ],
  [
    "lookup",
    {
      params: "map, key, default",
      min: 2,
      max: 3,
      call: (a) => {
        const m = a.map(0);
        const k = a.str(1);
        const { found, value } = ownValue(m, k);
        if (found) return value ?? null;
        if (a.length > 2) return a.any(2);
        throw evalError("lookup", `the map has no key "${k}".`, 1, "Pass a default as the third argument.");
      },
    },
  ],
  [
    "concat",
    {
      params: "lists…",
      min: 1,
      max: Number.POSITIVE_INFINITY,
      call: (a) => {
        let total = 0;
        for (let i = 0; i < a.length; i++) total += a.list(i).length;
        if (total > MAX_COLLECTION_SIZE) {
          throw evalError("concat", `result would have ${total} items; the limit is ${MAX_COLLECTION_SIZE}.`);
        }
        const out: unknown[] = [];
        for (let i = 0; i < a.length; i++) out.push(...a.list(i));
        return out;
      },
    },
  ],
];
