/** Resolving each component's type to the plugin package that serves it, once per (kind, type). */
import { type Diagnostic, diagnostic, isKilnError } from "../errors.js";
import { PluginResolver, type ResolvedComponent, type ResolverOptions } from "../plugins/resolve.js";
import type { Kind } from "../schema/base.js";
import { suggest } from "../schema/validate.js";
import { formatPath, type PathSegment, positionOf, type SourceFile } from "./parse.js";
import type { RawFile } from "./structure.js";

export interface PluginLookup {
  /** The plugin serving `type`, or undefined (the problem, at the `type:` key, is in diags). */
  resolveAt(kind: Kind, type: unknown, path: PathSegment[]): ResolvedComponent | undefined;
  /** Every distinct component resolved so far. */
  used(): ResolvedComponent[];
}

const isMap = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

/** A lookup for the file's components; with `enabled` false (syntax only) it resolves nothing. */
export function pluginLookup(
  raw: RawFile,
  dir: string,
  options: Omit<ResolverOptions, "fromDir" | "plugins"> | undefined,
  src: SourceFile,
  diags: Diagnostic[],
  enabled: boolean,
): PluginLookup {
  const resolver = new PluginResolver({
    fromDir: dir,
    ...(options ?? {}),
    // Entries that are not strings are reported by the schema check.
    plugins: isMap(raw.plugins)
      ? Object.fromEntries(Object.entries(raw.plugins).filter(([, v]) => typeof v === "string"))
      : {},
  });
  const used = new Map<string, ResolvedComponent>();
  const resolveAt = (kind: Kind, type: unknown, path: PathSegment[]): ResolvedComponent | undefined => {
    if (typeof type !== "string" || !enabled) return undefined;
    const key = `${kind}:${type}`;
    if (used.has(key)) return used.get(key);
    try {
      const r = resolver.resolve(kind, type);
      used.set(key, r);
      return r;
    } catch (err) {
      if (!isKilnError(err)) throw err;
      let hint = err.hint;
      if (err.code === "KILN_PLUGIN_NOT_FOUND") {
        // A standard type whose package is not installed is spelled right: no "did you mean" then.
        const close = suggest(
          type,
          resolver.knownTypes(kind).filter((t) => t !== type),
        );
        if (close) hint = `Did you mean "${close}"? Otherwise: ${hint ?? ""}`;
      }
      diags.push(
        diagnostic(err.code, err.message, {
          path: formatPath([...path, "type"]),
          pos: positionOf(src, [...path, "type"]),
          ...(hint ? { hint } : {}),
        }),
      );
      used.set(key, undefined as unknown as ResolvedComponent);
      return undefined;
    }
  };
  return { resolveAt, used: () => [...used.values()].filter(Boolean) };
}
