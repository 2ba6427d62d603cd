/** The clock and randomness: timestamp() and uuid(). */
import { randomUUID } from "node:crypto";
import { evalError, type FunctionDef } from "./args.js";

export const TIME_FUNCTIONS: Array<[string, FunctionDef]> = [
  [
    "timestamp",
    {
      params: "",
      min: 0,
      max: 0,
      call: (_a, ctx) => {
        const d = ctx.now();
        if (Number.isNaN(d.getTime())) throw evalError("timestamp", "the clock returned an invalid date.");
        return d.toISOString().replace(/\.\d+Z$/, "Z");
      },
    },
  ],
  ["uuid", { params: "", min: 0, max: 0, call: () => randomUUID() }],
];
