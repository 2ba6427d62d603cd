/**
 * A build's `sources:` — names of sources, an expression giving them (`${{ var.sources }}`), and
 * per-build variants of a source (Packer's `source "qemu.x" { … }` inside `build`): a map
 * `{ source: <name>, name?: <run name>, <option>: <value> … }` whose options replace the source's
 * own for this build.
 */
import { type Diagnostic, diagnostic } from "../errors.js";
import type { Scope } from "../expr/index.js";
import { evaluateTree } from "./expand.js";
import { formatPath, type PathSegment, positionOf, type SourceFile } from "./parse.js";

const isMap = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

export interface SourceVariant {
  /** The run's source name (the variant's `name:`, else the source's). */
  name: string;
  /** The source it starts from. */
  base: string;
  /** Its options as written, without `source` and `name`. */
  options: Record<string, unknown>;
  /** Where the variant is: ["builds", i, "sources", j]. */
  path: PathSegment[];
}

export interface BuildSources {
  /** Every run's source name, in order. */
  names: string[];
  /** The names as written (direct references, checked against `sources:`), with their paths. */
  refs: Array<{ name: string; path: PathSegment[] }>;
  variants: SourceVariant[];
}

/** Evaluate and sort out build `i`'s sources. Problems go to `diags`. */
export function resolveBuildSources(
  b: Record<string, unknown>,
  i: number,
  scope: Scope | undefined,
  src: SourceFile,
  diags: Diagnostic[],
): BuildSources {
  const base: PathSegment[] = ["builds", i, "sources"];
  /** A name (or the whole list) evaluated now: sources are needed before a build starts. */
  const now = (v: unknown, path: PathSegment[]): unknown => {
    if (!scope || typeof v !== "string") return v;
    const r = evaluateTree(v, path, scope, src, diags);
    if (r.deferred.length === 0) return r.value;
    diags.push(
      diagnostic("KILN_EXPR_EVAL", "a build's sources are needed before the build starts", {
        path: formatPath(path),
        pos: positionOf(src, path),
        hint: "Use var.* or local.* here; build.* and http.* are known only while a build runs.",
      }),
    );
    return undefined;
  };
  let list: unknown = b.sources;
  if (typeof b.sources === "string") list = now(b.sources, base);
  else if (Array.isArray(b.sources))
    list = b.sources.map((e, j) => {
      if (typeof e === "string") return now(e, [...base, j]);
      if (!isMap(e)) return e;
      // A variant's options are the source's: evaluated with it, later; its names now.
      const named: Record<string, unknown> = { ...e, source: now(e.source, [...base, j, "source"]) };
      if (e.name !== undefined) named.name = now(e.name, [...base, j, "name"]);
      return named;
    });
  const out: BuildSources = { names: [], refs: [], variants: [] };
  if (!Array.isArray(list)) {
    if (typeof b.sources === "string" && scope && list !== undefined)
      diags.push(
        diagnostic("KILN_SCHEMA_TYPE", "the expression for sources must give a list of source names", {
          path: formatPath(base),
          pos: positionOf(src, base),
        }),
      );
    return out;
  }
  // An expression giving the whole list: its items have no place of their own in the file.
  const whole = !Array.isArray(b.sources);
  list.forEach((entry, j) => {
    const path = whole ? base : [...base, j];
    if (typeof entry === "string") {
      out.names.push(entry);
      out.refs.push({ name: entry, path });
    } else if (isMap(entry) && typeof entry.source === "string") {
      const { source, name, ...options } = entry;
      const runName = typeof name === "string" && name !== "" ? name : source;
      out.names.push(runName);
      out.refs.push({ name: source, path: whole ? path : [...path, "source"] });
      out.variants.push({ name: runName, base: source, options, path });
    } else if (whole) {
      diags.push(
        diagnostic("KILN_SCHEMA_TYPE", `sources[${j}] from the expression is not a source name`, {
          path: formatPath(path),
          pos: positionOf(src, path),
        }),
      );
    }
  });
  return out;
}
