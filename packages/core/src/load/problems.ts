/** Turning the problems collected while loading into one KilnError. */
import { type Diagnostic, KilnError, sortDiagnostics } from "../errors.js";
import { redactDiagnostics, redactorFor } from "./redact.js";
import { maskedNear } from "./sensitive-lines.js";

/**
 * Throw a KilnError carrying every error in `diags` (sorted by position, each once), if any,
 * with `secrets` redacted from each (the code frames are redacted when printed).
 */
export function throwIfErrors(
  diags: Diagnostic[],
  file: string,
  secrets: string[] = [],
  /** Lines holding sensitive values, by file: code frames show them as `***`. */
  masks: ReadonlyMap<string, ReadonlySet<number>> = new Map(),
): void {
  // A value can be checked twice (a component's common keys are in the base schema and in its
  // option schema); report each problem once.
  const seen = new Set<string>();
  const errors = diags.filter((d) => {
    if (d.severity !== "error") return false;
    const key = `${d.code}|${d.pos?.line}:${d.pos?.column}|${d.path ?? ""}|${d.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  if (errors.length === 0) return;
  const sorted = redactDiagnostics(sortDiagnostics(errors), redactorFor(secrets), secrets).map((d) => {
    const lines = d.pos ? masks.get(d.pos.file) : undefined;
    const near = lines && d.pos ? maskedNear(lines, d.pos.line) : [];
    return near.length > 0 ? { ...d, masked: [...new Set([...(d.masked ?? []), ...near])] } : d;
  });
  const first = sorted[0];
  throw new KilnError(
    first?.code ?? "KILN_SCHEMA",
    `${file}: ${errors.length} problem${errors.length === 1 ? "" : "s"}`,
    {
      diagnostics: sorted,
      secrets,
    },
  );
}
