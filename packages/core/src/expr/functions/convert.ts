/** Conversions: tostring(), tonumber(), tobool(), tolist(), toset(), tomap(). */
import { deepEqual, formatNumber, typeOf } from "../values.js";
import { type Args, evalError, type FunctionDef } from "./args.js";

function stringish(a: Args, i: number): string {
  const v = a.values[i];
  switch (typeOf(v)) {
    case "string":
      return v as string;
    case "number":
      return formatNumber(v as number);
    case "bool":
      return v ? "true" : "false";
    default:
      throw a.typeError(i, "a string");
  }
}

export const CONVERSION_FUNCTIONS: Array<[string, FunctionDef]> = [
  [
    "tostring",
    {
      params: "value",
      min: 1,
      max: 1,
      call: (a) => (a.any(0) === null ? null : stringish(a, 0)),
    },
  ],
  [
    "tonumber",
    {
      params: "value",
      min: 1,
      max: 1,
      call: (a) => {
        const v = a.any(0);
        if (v === null || typeof v === "number") return v;
        if (typeof v === "string") {
          const t = v.trim();
          if (/^-?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(t)) {
            const n = Number(t);
            if (Number.isFinite(n)) return n;
          }
          throw evalError("tonumber", `"${v.length > 40 ? `${v.slice(0, 40)}…` : v}" is not a number.`, 0);
        }
        throw a.typeError(0, "a string or a number");
      },
    },
  ],
  [
    "tobool",
    {
      params: "value",
      min: 1,
      max: 1,
      call: (a) => {
        const v = a.any(0);
        if (v === null || typeof v === "boolean") return v;
        if (v === "true") return true;
        if (v === "false") return false;
        if (typeof v === "string") throw evalError("tobool", 'only "true" and "false" convert to a bool.', 0);
        throw a.typeError(0, "a string or a bool");
      },
    },
  ],
  ["tolist", { params: "value", min: 1, max: 1, call: (a) => (a.any(0) === null ? null : [...a.list(0)]) }],
  [
    "toset",
    {
      params: "value",
      min: 1,
      max: 1,
      call: (a) => {
        if (a.any(0) === null) return null;
        const out: unknown[] = [];
        for (const v of a.list(0)) if (!out.some((o) => deepEqual(o, v))) out.push(v);
        return out;
      },
    },
  ],
  ["tomap", { params: "value", min: 1, max: 1, call: (a) => (a.any(0) === null ? null : { ...a.map(0) }) }],
];
