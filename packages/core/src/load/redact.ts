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

/**
 * `redact` for text kiln writes (hints, option paths): a name of which a secret is only a part
 * (`ssh_password` when the secret is "password") is kiln's word, not the secret, and stays.
 */
export function redactWords(
  text: string,
  redact: (text: string) => string,
  secrets: readonly string[],
  /** Texts kiln wrote (file paths) kept whole wherever they stand. */
  keep: readonly string[] = [],
): string {
  if (secrets.length === 0) return redact(text);
  const kept: string[] = [];
  let masked = text;
  for (const k of keep)
    if (k && masked.includes(k)) masked = masked.split(k).join(`\uE000${kept.push(k) - 1}\uE000`);
  // Words of names and paths (`ssh_password`, `image-builder/kiln.yaml`) that hold a secret as a part.
  masked = masked.replace(/[A-Za-z0-9_./-]+/g, (w) => {
    if (!secrets.some((s) => s !== w && s.length > 0 && w.includes(s))) return w;
    kept.push(w);
    return `\uE000${kept.length - 1}\uE000`;
  });
  return redact(masked).replace(/\uE000(\d+)\uE000/g, (_m, i: string) => kept[Number(i)] ?? "");
}

/** The diagnostics with message, hint and path redacted. */
export function redactDiagnostics(
  diags: Diagnostic[],
  redact: (text: string) => string,
  secrets: readonly string[] = [],
): Diagnostic[] {
  return diags.map((d) => ({
    ...d,
    message: redact(d.message),
    ...(d.hint !== undefined ? { hint: redactWords(d.hint, redact, secrets) } : {}),
    ...(d.path !== undefined ? { path: redactWords(d.path, redact, secrets) } : {}),
  }));
}

/** `redact`, except for the texts in `keep` (file paths kiln names), which stay whole. */
export function redactKeeping(
  text: string,
  redact: (text: string) => string,
  keep: readonly string[],
): string {
  const kept: string[] = [];
  let masked = text;
  for (const k of keep)
    if (k && masked.includes(k)) masked = masked.split(k).join(`\uE001${kept.push(k) - 1}\uE001`);
  return redact(masked).replace(/\uE001(\d+)\uE001/g, (_m, i: string) => kept[Number(i)] ?? "");
}
