/** Path manipulation: basename(), dirname(), abspath() (against the build file's directory). */
import * as nodePath from "node:path";
import type { FunctionDef } from "./args.js";

export const PATH_FUNCTIONS: Array<[string, FunctionDef]> = [
  ["basename", { params: "path", min: 1, max: 1, call: (a) => nodePath.basename(a.str(0)) }],
  ["dirname", { params: "path", min: 1, max: 1, call: (a) => nodePath.dirname(a.str(0)) }],
  ["abspath", { params: "path", min: 1, max: 1, call: (a, ctx) => nodePath.resolve(ctx.baseDir, a.str(0)) }],
];
