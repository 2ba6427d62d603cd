/** Numbers: min(), max(), abs(). */
import type { FunctionDef } from "./args.js";

export const NUMBER_FUNCTIONS: Array<[string, FunctionDef]> = [
  [
    "min",
    {
      params: "numbers…",
      min: 1,
      max: Number.POSITIVE_INFINITY,
      call: (a) => Math.min(...a.values.map((_v, i) => a.num(i))),
    },
  ],
  [
    "max",
    {
      params: "numbers…",
      min: 1,
      max: Number.POSITIVE_INFINITY,
      call: (a) => Math.max(...a.values.map((_v, i) => a.num(i))),
    },
  ],
  ["abs", { params: "number", min: 1, max: 1, call: (a) => Math.abs(a.num(0)) }],
];
