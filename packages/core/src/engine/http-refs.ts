/**
 * `${{ http.* }}` means the address of the HTTP server a builder runs for the guest (from
 * http_directory / http_content). In a run where no such server is running — the null builder,
 * or a builder given nothing to serve — those values would silently be empty strings, so a
 * provisioner or post-processor option that refers to them is an error naming the option.
 */
import { KilnError } from "../errors.js";
import { isDeferred } from "../expr/deferred.js";
import { hasExpressions, parseTemplate, references, type Template } from "../expr/index.js";
import { formatPath, type PathSegment, positionOf, type SourceFile } from "../load/parse.js";
import type { BuildVars } from "./types.js";

/** True when `t` reads http.*, directly or through locals computed from it. */
function readsHttp(t: Template, locals: Record<string, unknown>, seen: Set<string>): boolean {
  return references(t).some((r) => {
    if (r.root === "http") return true;
    if (r.root !== "local" || !r.member || seen.has(r.member) || !Object.hasOwn(locals, r.member))
      return false;
    seen.add(r.member);
    return httpReferences(locals[r.member], [], locals, seen).length > 0;
  });
}

/** Paths (below `base`) of the strings in `value` that refer to `http.*` (or to a local that does). */
export function httpReferences(
  value: unknown,
  base: PathSegment[] = [],
  locals: Record<string, unknown> = {},
  seen: ReadonlySet<string> = new Set(),
): PathSegment[][] {
  const out: PathSegment[][] = [];
  const walk = (v: unknown, path: PathSegment[]) => {
    // Build-time values arrive as the loader's Deferred markers (a plain string is data).
    if (isDeferred(v)) {
      if (readsHttp(v.template, locals, new Set(seen))) out.push(path);
    } else if (typeof v === "string") {
      if (!hasExpressions(v)) return;
      try {
        if (readsHttp(parseTemplate(v), locals, new Set(seen))) out.push(path);
      } catch {
        // malformed expressions are reported where they are evaluated
      }
    } else if (Array.isArray(v)) {
      v.forEach((x, i) => {
        walk(x, [...path, i]);
      });
    } else if (v && typeof v === "object")
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) walk(x, [...path, k]);
  };
  walk(value, base);
  return out;
}

/** Throw when `options` (of the component at `path`) refer to http.* and no HTTP server runs. */
export function checkHttpAvailable(
  what: string,
  options: Record<string, unknown>,
  path: PathSegment[],
  buildVars: BuildVars,
  loaded: { src?: SourceFile; locals?: Record<string, unknown> } | undefined,
): void {
  if (buildVars.PackerHTTPAddr) return;
  const src = loaded?.src;
  const refs = httpReferences(options, path, loaded?.locals);
  if (refs.length === 0) return;
  const diagnostics = refs.map((p) => ({
    code: "KILN_HTTP_UNAVAILABLE",
    severity: "error" as const,
    message: `${what} option ${formatPath(p.slice(path.length))} refers to http.*, but no HTTP server runs in this build, so it would be empty`,
    path: formatPath(p),
    ...(src ? { pos: positionOf(src, p) } : {}),
    hint: "http.ip, http.port and http.addr exist while a builder serves http_directory or http_content (qemu, proxmox-iso); the null builder serves nothing. Remove the reference, or give such a builder something to serve.",
  }));
  throw new KilnError("KILN_HTTP_UNAVAILABLE", diagnostics[0]?.message ?? "http.* unavailable", {
    diagnostics,
  });
}
