/**
 * Names that refer to other parts of the file: build names are unique, a build's sources are
 * defined, and `only`/`except`/`override` of its components name sources of that build.
 */
import { type Diagnostic, diagnostic } from "../errors.js";
import { suggest } from "../schema/validate.js";
import { formatPath, type PathSegment, positionOf, type SourceFile } from "./parse.js";

const isMap = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

/** The source names a build lists (entries that are not strings are reported by the schema check). */
export function buildSources(b: Record<string, unknown>): string[] {
  return Array.isArray(b.sources) ? b.sources.filter((s): s is string => typeof s === "string") : [];
}

/** Report a build whose name an earlier build has; `buildNames` remembers the names seen. */
export function checkBuildName(
  name: string,
  i: number,
  buildNames: Map<string, number>,
  src: SourceFile,
  diags: Diagnostic[],
): void {
  const base: PathSegment[] = ["builds", i];
  if (name) {
    const prev = buildNames.get(name);
    if (prev !== undefined) {
      diags.push(
        diagnostic("KILN_DUPLICATE_NAME", `build name "${name}" is used by builds[${prev}] too`, {
          path: formatPath([...base, "name"]),
          pos: positionOf(src, [...base, "name"]),
          hint: "Give each build its own name; runs are named build.type.source.",
        }),
      );
    } else buildNames.set(name, i);
  }
}

/** Report each source a build names that is not defined under `sources:`. */
export function checkBuildSources(
  refs: Array<{ name: string; path: PathSegment[] }>,
  sourceNames: string[],
  src: SourceFile,
  diags: Diagnostic[],
): void {
  refs.forEach(({ name: s, path }) => {
    if (!sourceNames.includes(s)) {
      const close = suggest(s, sourceNames);
      diags.push(
        diagnostic(
          "KILN_REF_UNKNOWN_SOURCE",
          `build names source "${s}", which is not defined under \`sources:\``,
          {
            path: formatPath(path),
            pos: positionOf(src, path),
            hint: close
              ? `Did you mean "${close}"?`
              : sourceNames.length
                ? `defined sources: ${sourceNames.join(", ")}`
                : "define it under `sources:`",
          },
        ),
      );
    }
  });
}

/** Report `only`, `except` and `override` entries of the component at `path` that are not sources of its build. */
export function checkOnlyExcept(
  c: Record<string, unknown>,
  path: PathSegment[],
  srcList: string[],
  src: SourceFile,
  diags: Diagnostic[],
): void {
  for (const key of ["only", "except"] as const) {
    const list = c[key];
    if (!Array.isArray(list)) continue;
    list.forEach((entry, k) => {
      if (typeof entry !== "string" || entry.includes("*") || entry.includes(".")) return;
      if (!srcList.includes(entry)) {
        const close = suggest(entry, srcList);
        diags.push(
          diagnostic(
            "KILN_REF_UNKNOWN_SOURCE",
            `${key} names "${entry}", which is not a source of this build`,
            {
              path: formatPath([...path, key, k]),
              pos: positionOf(src, [...path, key, k]),
              hint: close
                ? `Did you mean "${close}"?`
                : `this build's sources: ${srcList.join(", ") || "none"}`,
            },
          ),
        );
      }
    });
  }
  // Per-source overrides name sources of this build too.
  if (isMap(c.override)) {
    for (const key of Object.keys(c.override)) {
      if (srcList.includes(key)) continue;
      const close = suggest(key, srcList);
      diags.push(
        diagnostic(
          "KILN_REF_UNKNOWN_SOURCE",
          `override names "${key}", which is not a source of this build`,
          {
            path: formatPath([...path, "override", key]),
            pos: positionOf(src, [...path, "override", key], "key"),
            hint: close
              ? `Did you mean "${close}"?`
              : `this build's sources: ${srcList.join(", ") || "none"}`,
          },
        ),
      );
    }
  }
}
