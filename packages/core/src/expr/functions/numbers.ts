/** Numbers: min(), max(), abs(), ceil(), floor(), log(), pow(), signum(), parseint(). */
import { evalError, type FunctionDef } from "./args.js";

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
  ["ceil", { params: "number", min: 1, max: 1, call: (a) => Math.ceil(a.num(0)) }],
  ["floor", { params: "number", min: 1, max: 1, call: (a) => Math.floor(a.num(0)) }],
  ["log", { params: "number, base", min: 2, max: 2, call: (a) => Math.log(a.num(0)) / Math.log(a.num(1)) }],
  ["pow", { params: "number, power", min: 2, max: 2, call: (a) => a.num(0) ** a.num(1) }],
  ["signum", { params: "number", min: 1, max: 1, call: (a) => Math.sign(a.num(0)) || 0 }],
  [
    "parseint",
    {
      params: "str, base",
      min: 2,
      max: 2,
      call: (a) => {
        const s = a.str(0);
        const base = a.num(1);
        if (!Number.isInteger(base) || base < 2 || base > 62)
          throw evalError("parseint", "base is a whole number from 2 to 62.", 1);
        const digits = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
        const alphabet =
          base <= 36 ? digits.slice(0, base) + digits.slice(10, base).toUpperCase() : digits.slice(0, base);
        const m = /^([+-]?)(.+)$/.exec(s);
        const body = m?.[2] ?? "";
        if (body === "" || [...body].some((c) => !alphabet.includes(c)))
          throw evalError("parseint", `"${s.slice(0, 40)}" is not a number in base ${base}.`, 0);
        let n = 0;
        for (const c of body) {
          const d = base <= 36 ? digits.indexOf(c.toLowerCase()) : digits.indexOf(c);
          n = n * base + d;
        }
        return m?.[1] === "-" ? -n : n;
      },
    },
  ],
];
