/**
 * Local files and folders that options name, checked before anything runs: a missing script,
 * http_directory or key file is an error at its option, not a failure minutes into a build.
 * Paths are relative to the build file's folder. Values kept for build time, URLs and globs
 * are left for the steps.
 */
import { statSync } from "node:fs";
import { homedir } from "node:os";
import { isAbsolute, resolve } from "node:path";
import { type CheckContext, type ConfigProblem, isDeferred } from "@kiln/core";
import { problem } from "./problem.js";

export type PathKind = "file" | "directory" | "any";

const GLOB = /[*?[\]{}]/;

/** A path as the steps read it: `~/` expanded, relative to the build file's folder. */
export function localPath(ctx: Pick<CheckContext, "baseDir">, p: string): string {
  const expanded = p === "~" ? homedir() : p.startsWith("~/") ? resolve(homedir(), p.slice(2)) : p;
  return isAbsolute(expanded) ? expanded : resolve(ctx.baseDir, expanded);
}

/** True for a URL (`https://…`, `file://…` is a local path, returned as such by localUrlPath). */
export function isUrl(p: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(p) && !/^file:\/\//i.test(p);
}

function kindOf(full: string): PathKind | undefined {
  try {
    const st = statSync(full);
    return st.isDirectory() ? "directory" : st.isFile() ? "file" : "any";
  } catch {
    return undefined;
  }
}

/** The problem of one path option (`option` is its place), if it does not name what it must. */
export function pathProblem(
  ctx: Pick<CheckContext, "baseDir">,
  option: ReadonlyArray<string | number>,
  value: unknown,
  kind: PathKind,
  /** "warning" for a file that may be made before the build (a local ISO from another script). */
  missing: "error" | "warning" = "error",
): ConfigProblem[] {
  if (typeof value !== "string" || isDeferred(value) || value === "" || isUrl(value) || GLOB.test(value))
    return [];
  const p = value.replace(/^file:\/\//i, "");
  const full = localPath(ctx, p);
  const found = kindOf(full);
  const name = option.join(".").replace(/\.(\d+)/g, "[$1]");
  const hint = `Relative paths are resolved from ${ctx.baseDir}.`;
  if (found === undefined && missing === "warning")
    return [
      {
        ...problem(
          option,
          `${name}: ${JSON.stringify(value)} does not exist yet (looked for ${full}); the build fails unless it is there by then`,
          hint,
        ),
        severity: "warning",
      },
    ];
  if (found === undefined)
    return [problem(option, `${name}: ${JSON.stringify(value)} does not exist (looked for ${full})`, hint)];
  if (kind !== "any" && found !== kind && found !== "any")
    return [problem(option, `${name}: ${JSON.stringify(value)} is a ${found}, not a ${kind}`)];
  return [];
}

/** pathProblem for each entry of a list option. */
export function pathListProblems(
  ctx: Pick<CheckContext, "baseDir">,
  option: string,
  values: unknown,
  kind: PathKind,
): ConfigProblem[] {
  if (!Array.isArray(values)) return [];
  return values.flatMap((v, i) => pathProblem(ctx, [option, i], v, kind));
}

/** The local scripts a shell-like component runs (`script`, `scripts`) must be files. */
export function scriptProblems(
  o: { script?: unknown; scripts?: unknown },
  ctx: Pick<CheckContext, "baseDir">,
): ConfigProblem[] {
  return [
    ...pathProblem(ctx, ["script"], o.script, "file"),
    ...pathListProblems(ctx, "scripts", o.scripts, "file"),
  ];
}
