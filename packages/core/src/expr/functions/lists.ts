/**
 * List and map functions of Packer's library beyond collections.ts: alltrue, anytrue, merge,
 * flatten, compact, zipmap, distinct, element, index, range, chunklist, reverse, slice, sort, sum,
 * one, coalescelist, transpose and the set functions (sets are lists without repeats).
 */
import { MAX_COLLECTION_SIZE, MAX_DEPTH } from "../limits.js";
import { deepEqual, formatNumber, mapKeys, ownValue, typeOf } from "../values.js";
import { ARTICLE, type Args, evalError, FnError, type FunctionDef } from "./args.js";

function sized<T>(fn: string, list: T[]): T[] {
  if (list.length > MAX_COLLECTION_SIZE)
    throw evalError(fn, `the result would have ${list.length} items; the limit is ${MAX_COLLECTION_SIZE}.`);
  return list;
}

function distinct(list: readonly unknown[]): unknown[] {
  const out: unknown[] = [];
  for (const v of list) if (!out.some((o) => deepEqual(o, v))) out.push(v);
  return out;
}

function bools(a: Args): boolean[] {
  return a.list(0).map((v, i) => {
    if (typeof v === "boolean") return v;
    if (v === "true" || v === "false") return v === "true";
    throw new FnError(
      "type",
      `${a.fn}() argument 1 must be a list of bools; item ${i} is ${ARTICLE[typeOf(v)]}.`,
      0,
    );
  });
}

function whole(a: Args, i: number): number {
  const n = a.num(i);
  if (!Number.isInteger(n)) throw a.typeError(i, "a whole number");
  return n;
}

function flatten(v: readonly unknown[], depth: number, out: unknown[]): void {
  if (depth > MAX_DEPTH) throw evalError("flatten", `lists nest more than ${MAX_DEPTH} deep.`);
  for (const x of v) {
    if (Array.isArray(x)) flatten(x, depth + 1, out);
    else out.push(x);
    if (out.length > MAX_COLLECTION_SIZE) sized("flatten", out);
  }
}

export const LIST_FUNCTIONS: Array<[string, FunctionDef]> = [
  ["alltrue", { params: "list", min: 1, max: 1, call: (a) => bools(a).every(Boolean) }],
  ["anytrue", { params: "list", min: 1, max: 1, call: (a) => bools(a).some(Boolean) }],
  [
    "merge",
    {
      params: "maps…",
      min: 0,
      max: Number.POSITIVE_INFINITY,
      call: (a) => {
        const out: Record<string, unknown> = {};
        for (let i = 0; i < a.length; i++) {
          if (a.values[i] === null) continue;
          const m = a.map(i);
          for (const k of mapKeys(m)) out[k] = ownValue(m, k).value;
        }
        return out;
      },
    },
  ],
  [
    "flatten",
    {
      params: "list",
      min: 1,
      max: 1,
      call: (a) => {
        const out: unknown[] = [];
        flatten(a.list(0), 0, out);
        return out;
      },
    },
  ],
  [
    "compact",
    { params: "list", min: 1, max: 1, call: (a) => a.list(0).filter((v) => v !== null && v !== "") },
  ],
  [
    "zipmap",
    {
      params: "keys, values",
      min: 2,
      max: 2,
      call: (a) => {
        const ks = a.list(0);
        const vs = a.list(1);
        if (ks.length !== vs.length)
          throw evalError("zipmap", `${ks.length} keys but ${vs.length} values.`, 1);
        const out: Record<string, unknown> = {};
        ks.forEach((k, i) => {
          if (typeof k !== "string")
            throw new FnError(
              "type",
              `zipmap() keys must be strings; item ${i} is ${ARTICLE[typeOf(k)]}.`,
              0,
            );
          if (k === "__proto__" || k === "constructor" || k === "prototype")
            throw evalError("zipmap", `"${k}" cannot be used as a map key.`, 0);
          out[k] = vs[i];
        });
        return out;
      },
    },
  ],
  ["distinct", { params: "list", min: 1, max: 1, call: (a) => distinct(a.list(0)) }],
  [
    "element",
    {
      params: "list, index",
      min: 2,
      max: 2,
      call: (a) => {
        const l = a.list(0);
        const i = whole(a, 1);
        if (l.length === 0) throw evalError("element", "the list is empty.", 0);
        if (i < 0) throw evalError("element", "the index must not be negative.", 1);
        return l[i % l.length] ?? null;
      },
    },
  ],
  [
    "index",
    {
      params: "list, value",
      min: 2,
      max: 2,
      call: (a) => {
        const i = a.list(0).findIndex((v) => deepEqual(v, a.values[1]));
        if (i < 0) throw evalError("index", "the list does not hold the value.", 1);
        return i;
      },
    },
  ],
  [
    "range",
    {
      params: "start, limit, step",
      min: 1,
      max: 3,
      call: (a) => {
        const start = a.length === 1 ? 0 : a.num(0);
        const limit = a.length === 1 ? a.num(0) : a.num(1);
        const step = a.length === 3 ? a.num(2) : limit >= start ? 1 : -1;
        if (step === 0) throw evalError("range", "step must not be 0.", 2);
        if ((step > 0 && limit < start) || (step < 0 && limit > start)) {
          throw evalError(
            "range",
            `a step of ${formatNumber(step)} never goes from ${formatNumber(start)} to ${formatNumber(limit)}.`,
            2,
          );
        }
        const count = Math.ceil((limit - start) / step);
        if (count > MAX_COLLECTION_SIZE) sized("range", { length: count } as unknown[]);
        return Array.from({ length: count }, (_v, i) => start + i * step);
      },
    },
  ],
  [
    "chunklist",
    {
      params: "list, size",
      min: 2,
      max: 2,
      call: (a) => {
        const l = a.list(0);
        const n = whole(a, 1);
        if (n < 0) throw evalError("chunklist", "size must not be negative.", 1);
        if (n === 0) return [l.slice()];
        const out: unknown[][] = [];
        for (let i = 0; i < l.length; i += n) out.push(l.slice(i, i + n));
        return out;
      },
    },
  ],
  ["reverse", { params: "list", min: 1, max: 1, call: (a) => [...a.list(0)].reverse() }],
  [
    "slice",
    {
      params: "list, start, end",
      min: 3,
      max: 3,
      call: (a) => {
        const l = a.list(0);
        const s = whole(a, 1);
        const e = whole(a, 2);
        if (s < 0 || e > l.length || s > e)
          throw evalError("slice", `from ${s} to ${e} is not within the list of ${l.length} items.`, 1);
        return l.slice(s, e);
      },
    },
  ],
  [
    "sort",
    {
      params: "list",
      min: 1,
      max: 1,
      call: (a) =>
        a
          .list(0)
          .map((v, i) => {
            if (typeof v === "string") return v;
            if (typeof v === "number") return formatNumber(v);
            if (typeof v === "boolean") return String(v);
            throw new FnError(
              "type",
              `sort() argument 1 must be a list of strings; item ${i} is ${ARTICLE[typeOf(v)]}.`,
              0,
            );
          })
          .sort((x, y) => (x < y ? -1 : x > y ? 1 : 0)),
    },
  ],
  [
    "sum",
    {
      params: "list",
      min: 1,
      max: 1,
      call: (a) => {
        const l = a.list(0);
        if (l.length === 0) throw evalError("sum", "the list is empty.", 0);
        return l.reduce<number>((acc, v, i) => {
          if (typeof v !== "number")
            throw new FnError(
              "type",
              `sum() argument 1 must be a list of numbers; item ${i} is ${ARTICLE[typeOf(v)]}.`,
              0,
            );
          return acc + v;
        }, 0);
      },
    },
  ],
  [
    "one",
    {
      params: "list",
      min: 1,
      max: 1,
      call: (a) => {
        const l = a.list(0);
        if (l.length > 1)
          throw evalError("one", `the list has ${l.length} items; one() takes a list of 0 or 1.`, 0);
        return l[0] ?? null;
      },
    },
  ],
  [
    "coalescelist",
    {
      params: "lists…",
      min: 1,
      max: Number.POSITIVE_INFINITY,
      call: (a) => {
        for (let i = 0; i < a.length; i++) if (a.list(i).length > 0) return a.list(i);
        return [];
      },
    },
  ],
  [
    "transpose",
    {
      params: "map",
      min: 1,
      max: 1,
      call: (a) => {
        const m = a.map(0);
        const out: Record<string, string[]> = {};
        for (const k of mapKeys(m).sort()) {
          const l = ownValue(m, k).value;
          if (!Array.isArray(l))
            throw new FnError(
              "type",
              `transpose() argument 1 must be a map of lists of strings; "${k}" is not a list.`,
              0,
            );
          for (const v of l) {
            if (typeof v !== "string")
              throw new FnError("type", `transpose() argument 1 must be a map of lists of strings.`, 0);
            if (v === "__proto__" || v === "constructor" || v === "prototype") continue;
            if (!Object.hasOwn(out, v)) out[v] = [];
            (out[v] as string[]).push(k);
          }
        }
        return out;
      },
    },
  ],
  [
    "setunion",
    {
      params: "lists…",
      min: 1,
      max: Number.POSITIVE_INFINITY,
      call: (a) => sized("setunion", distinct(a.values.flatMap((_v, i) => a.list(i)))),
    },
  ],
  [
    "setintersection",
    {
      params: "lists…",
      min: 1,
      max: Number.POSITIVE_INFINITY,
      call: (a) => {
        const rest = a.values.slice(1).map((_v, i) => a.list(i + 1));
        return distinct(a.list(0)).filter((v) => rest.every((l) => l.some((x) => deepEqual(x, v))));
      },
    },
  ],
  [
    "setsubtract",
    {
      params: "a, b",
      min: 2,
      max: 2,
      call: (a) => distinct(a.list(0)).filter((v) => !a.list(1).some((x) => deepEqual(x, v))),
    },
  ],
  [
    "setproduct",
    {
      params: "lists…",
      min: 2,
      max: Number.POSITIVE_INFINITY,
      call: (a) => {
        let out: unknown[][] = [[]];
        for (let i = 0; i < a.length; i++) {
          const l = distinct(a.list(i));
          if (out.length * l.length > MAX_COLLECTION_SIZE)
            sized("setproduct", { length: out.length * l.length } as unknown[]);
          out = out.flatMap((row) => l.map((v) => [...row, v]));
        }
        return out;
      },
    },
  ],
];
