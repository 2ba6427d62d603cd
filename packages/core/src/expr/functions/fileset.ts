/** fileexists() and fileset(): files below a folder, relative to the build file. */
import { readdirSync, statSync } from "node:fs";
import * as nodePath from "node:path";
import { MAX_COLLECTION_SIZE } from "../limits.js";
import { type Args, type CallContext, evalError, type FunctionDef } from "./args.js";

/** A glob as Packer's fileset() reads it — `*`, `**`, `?`, `[…]`, `{a,b}` — as a RegExp over `/` paths. */
export function globToRegExp(glob: string): RegExp {
  let re = "";
  let i = 0;
  let braces = 0;
  while (i < glob.length) {
    const c = glob[i] as string;
    if (c === "*" && glob[i + 1] === "*") {
      const slash = glob[i + 2] === "/";
      re += slash ? "(?:[^/]*/)*" : ".*";
      i += slash ? 3 : 2;
      continue;
    }
    if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "[") {
      const end = glob.indexOf("]", i + 1);
      if (end < 0) re += "\\[";
      else {
        const body = glob.slice(i + 1, end).replace(/\\/g, "\\\\");
        re += `[${body.startsWith("!") ? `^${body.slice(1)}` : body}]`;
        i = end;
      }
    } else if (c === "{") {
      braces++;
      re += "(?:";
    } else if (c === "}" && braces > 0) {
      braces--;
      re += ")";
    } else if (c === "," && braces > 0) re += "|";
    else re += c.replace(/[.+^${}()|\\/]/g, "\\$&");
    i++;
  }
  return new RegExp(`^${re}$`);
}

function resolveDir(a: Args, ctx: CallContext): string {
  return nodePath.resolve(ctx.baseDir, a.str(0));
}

export const FILESET_FUNCTIONS: Array<[string, FunctionDef]> = [
  [
    "fileexists",
    {
      params: "path",
      min: 1,
      max: 1,
      call: (a, ctx) => {
        try {
          const st = statSync(resolveDir(a, ctx));
          if (st.isDirectory()) throw evalError("fileexists", `"${a.str(0)}" is a folder, not a file.`, 0);
          return st.isFile();
        } catch (e) {
          if ((e as { code?: string }).code === "ENOENT" || (e as { code?: string }).code === "ENOTDIR")
            return false;
          throw e;
        }
      },
    },
  ],
  [
    "fileset",
    {
      params: "path, pattern",
      min: 2,
      max: 2,
      call: (a, ctx) => {
        const root = resolveDir(a, ctx);
        const re = globToRegExp(a.str(1));
        const out: string[] = [];
        let seen = 0;
        const walk = (dir: string, rel: string, depth: number): void => {
          if (depth > 32) return;
          let entries: import("node:fs").Dirent[];
          try {
            entries = readdirSync(dir, { withFileTypes: true });
          } catch {
            return;
          }
          for (const e of entries) {
            if (++seen > 10 * MAX_COLLECTION_SIZE)
              throw evalError(
                "fileset",
                `more than ${10 * MAX_COLLECTION_SIZE} entries below "${a.str(0)}".`,
                0,
              );
            const r = rel ? `${rel}/${e.name}` : e.name;
            if (e.isDirectory()) walk(nodePath.join(dir, e.name), r, depth + 1);
            else if (e.isFile() && re.test(r)) out.push(r);
          }
        };
        walk(root, "", 0);
        if (out.length > MAX_COLLECTION_SIZE)
          throw evalError("fileset", `more than ${MAX_COLLECTION_SIZE} files match.`, 1);
        return out.sort();
      },
    },
  ],
];
