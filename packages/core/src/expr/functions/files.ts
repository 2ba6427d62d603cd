/** Reading files relative to the build file: file() and templatefile(). */
import { readFileSync, statSync } from "node:fs";
import * as nodePath from "node:path";
import { MAX_FILE_SIZE } from "../limits.js";
import { type Args, type CallContext, evalError, FnError, type FunctionDef } from "./args.js";

function readText(a: Args, ctx: CallContext): { text: string; path: string } {
  const rel = a.str(0);
  if (rel === "") throw evalError(a.fn, "the path is empty.", 0);
  const full = nodePath.resolve(ctx.baseDir, rel);
  let size: number;
  try {
    const st = statSync(full);
    if (!st.isFile()) throw evalError(a.fn, `"${rel}" is not a file.`, 0);
    size = st.size;
  } catch (e) {
    if (e instanceof FnError) throw e;
    const code = (e as { code?: unknown }).code;
    if (code === "ENOENT" || code === "ENOTDIR") {
      throw evalError(
        a.fn,
        `file "${rel}" not found (looked for ${full}).`,
        0,
        `Relative paths are resolved from ${ctx.baseDir}.`,
      );
    }
    throw evalError(a.fn, `cannot read "${rel}": ${(e as Error).message}`, 0);
  }
  if (size > MAX_FILE_SIZE) {
    throw evalError(a.fn, `"${rel}" is ${size} bytes; the limit is ${MAX_FILE_SIZE}.`, 0);
  }
  let bytes: Buffer;
  try {
    bytes = readFileSync(full);
  } catch (e) {
    throw evalError(a.fn, `cannot read "${rel}": ${(e as Error).message}`, 0);
  }
  if (bytes.length > MAX_FILE_SIZE)
    throw evalError(a.fn, `"${rel}" is larger than ${MAX_FILE_SIZE} bytes.`, 0);
  try {
    let text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    if (text.startsWith("\uFEFF")) text = text.slice(1);
    return { text, path: full };
  } catch {
    throw evalError(
      a.fn,
      `"${rel}" is not UTF-8 text.`,
      0,
      "Read binary files another way; file() reads text.",
    );
  }
}

export const FILE_FUNCTIONS: Array<[string, FunctionDef]> = [
  ["file", { params: "path", min: 1, max: 1, call: (a, ctx) => readText(a, ctx).text }],
  [
    "templatefile",
    {
      params: "path, vars",
      min: 2,
      max: 2,
      call: (a, ctx) => {
        const vars = a.map(1);
        const { text, path } = readText(a, ctx);
        return ctx.renderFile(text, vars, path);
      },
    },
  ],
];
