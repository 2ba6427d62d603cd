/**
 * Keeping secrets out of load errors: every diagnostic is redacted (in every form the secrets
 * registry knows: quoted, escaped, base64 …) before it leaves the loader, and so is what a
 * message cut short: the start of a secret followed by "..." is redacted too.
 */

import { REDACTED, SecretRegistry } from "../engine/secrets.js";
import type { Diagnostic } from "../errors.js";

/** Shortest start of a secret that, cut short with "...", is taken for the secret. */
const MIN_CUT = 4;

/** A redactor for `secrets` (identity when there are none). */
export function redactorFor(secrets: readonly string[]): (text: string) => string {
  if (secrets.length === 0) return (t) => t;
  const reg = new SecretRegistry();
  for (const s of secrets) reg.add(s);
  const cuts = [...new Set(secrets)].filter((s) => s.length > MIN_CUT);
  return (text) => {
    let out = reg.redact(text);
    if (!out.includes("...")) return out;
    for (const s of cuts) {
      // A value cut to fit a message: `<start of the secret>...` (also JSON-escaped).
      for (const form of [s, JSON.stringify(s).slice(1, -1)]) {
        for (let k = form.length - 1; k >= MIN_CUT; k--) {
          const cut = `${form.slice(0, k)}...`;
          if (out.includes(cut)) out = out.split(cut).join(`${REDACTED}...`);
        }
      }
    }
    return out;
  };
}

/** The diagnostics with message, hint and path redacted. */
export function redactDiagnostics(diags: Diagnostic[], redact: (text: string) => string): Diagnostic[] {
  return diags.map((d) => ({
    ...d,
    message: redact(d.message),
    ...(d.hint !== undefined ? { hint: redact(d.hint) } : {}),
    ...(d.path !== undefined ? { path: redact(d.path) } : {}),
  }));
}
