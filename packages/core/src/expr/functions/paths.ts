/** Paths: basename(), dirname(), abspath() (against the build file's folder), pathexpand() (~). */
import { homedir } from "node:os";
import * as nodePath from "node:path";
import type { FunctionDef } from "./args.js";

export const PATH_FUNCTIONS: Array<[string, FunctionDef]> = [
  ["basename", { params: "path", min: 1, max: 1, call: (a) => nodePath.basename(a.str(0)) }],
  ["dirname", { params: "path", min: 1, max: 1, call: (a) => nodePath.dirname(a.str(0)) }],
  ["abspath", { params: "path", min: 1, max: 1, call: (a, ctx) => nodePath.resolve(ctx.baseDir, a.str(0)) }],
  [
    "pathexpand",
    {
      params: "path",
      min: 1,
      max: 1,
      call: (a) => {
        const p = a.str(0);
        return p === "~" ? homedir() : p.startsWith("~/") ? nodePath.join(homedir(), p.slice(2)) : p;
      },
    },
  ],
];
