/** The strings a sensitive value holds, for the secrets registry. */
import { isDeferred } from "../expr/deferred.js";

/**
 * Shortest value *computed from* a secret that is redacted wherever it appears: a derived "1",
 * "yes" or "80" cannot be told apart from the rest of the output. Sensitive values themselves
 * are redacted whatever their length.
 */
export const MIN_DERIVED_SECRET = 4;

/** Every string and number (as text) in `v`, lists and maps included; markers are skipped. */
export function secretStrings(v: unknown, minLength = 1): string[] {
  const out: string[] = [];
  const walk = (x: unknown, depth: number): void => {
    if (depth > 64 || isDeferred(x)) return;
    if (typeof x === "string" || typeof x === "number") {
      const s = String(x);
      if (s.length >= Math.max(1, minLength)) out.push(s);
    } else if (Array.isArray(x)) for (const y of x) walk(y, depth + 1);
    else if (x && typeof x === "object") for (const y of Object.values(x)) walk(y, depth + 1);
  };
  walk(v, 0);
  return out;
}
