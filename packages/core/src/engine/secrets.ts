/**
 * The one secrets registry. Every value registered here (sensitive variables, API secrets,
 * passwords, private keys, generated credentials) is replaced by `<sensitive>` in every event,
 * renderer and log — also in the forms it takes when a program prints it (the README's
 * secrets paragraph lists them): each line of a multi-line secret; any escaping of it
 * (secret-pattern.ts: JSON, shell, `printf %q`, `$'…'`, any percent-encoding); its base64 at
 * any alignment; its hex; and pieces of those two encodings that a line break cut
 * (secret-fragments.ts).
 */

import { FragmentMatcher } from "./secret-fragments.js";
import { secretPattern } from "./secret-pattern.js";

export const REDACTED = "<sensitive>";
/** Shorter fragments are too likely to occur by chance to be redacted on their own. */
const MIN_FRAGMENT = 4;

function base64Forms(secret: string): string[] {
  const out: string[] = [];
  const bytes = Buffer.from(secret, "utf8");
  // A secret inside a longer base64'd text starts at offset 0, 1 or 2 of a 3-byte group; for
  // each alignment, the characters that depend only on the secret's own bytes are stable.
  for (let pad = 0; pad < 3; pad++) {
    const padded = Buffer.concat([Buffer.alloc(pad), bytes]);
    const enc = padded.toString("base64").replace(/=+$/, "");
    const startChars = Math.ceil((pad * 4) / 3);
    const usableBytes = Math.floor(padded.length / 3) * 3;
    const endChars = (usableBytes / 3) * 4;
    const core = enc.slice(startChars, Math.max(startChars, endChars));
    if (core.length >= MIN_FRAGMENT) {
      out.push(core, core.replace(/\+/g, "-").replace(/\//g, "_"));
    }
  }
  out.push(bytes.toString("base64"), bytes.toString("base64url"));
  return out;
}

/**
 * The literal forms of `secret` that are redacted (its escaped forms are one pattern each,
 * see `secretPattern`; pieces of wrapped base64/hex are found by `FragmentMatcher`).
 */
export function secretForms(secret: string): string[] {
  const forms = new Set<string>();
  const add = (s: string) => {
    if (s.length >= MIN_FRAGMENT || s === secret) forms.add(s);
  };
  add(secret);
  const lines = secret.split(/\r?\n/).map((l) => l.trim());
  if (lines.length > 1) for (const l of lines) if (l.length >= MIN_FRAGMENT) add(l);
  add(JSON.stringify(secret).slice(1, -1));
  add(
    JSON.stringify(JSON.stringify(secret))
      .slice(1, -1)
      .replace(/^\\"|\\"$/g, ""),
  );
  add(encodeURIComponent(secret));
  add(encodeURIComponent(secret).replace(/%20/g, "+"));
  add(encodeURI(secret));
  add(secret.replace(/'/g, "'\\''"));
  add(secret.replace(/(["\\$`])/g, "\\$1"));
  for (const b of base64Forms(secret)) add(b);
  const hex = Buffer.from(secret, "utf8").toString("hex");
  add(hex);
  add(hex.toUpperCase());
  forms.delete("");
  return [...forms];
}

export class SecretRegistry {
  private readonly values = new Set<string>();
  /** Regex sources with the length of what they match, longest first. */
  private alternatives: Array<{ source: string; weight: number }> = [];
  private readonly fragments = new FragmentMatcher();
  private pattern: RegExp | undefined;

  /** Register a secret; empty strings and very short values are ignored (with a minimum of 1 char kept exact). */
  add(value: unknown): void {
    if (typeof value !== "string" && typeof value !== "number") return;
    const s = String(value);
    if (s.length === 0 || this.values.has(s)) return;
    this.values.add(s);
    const seen = new Set(this.alternatives.map((a) => a.source));
    const push = (source: string, weight: number) => {
      if (!seen.has(source)) this.alternatives.push({ source, weight });
      seen.add(source);
    };
    push(secretPattern(s), s.length);
    for (const f of secretForms(s)) push(escapeRegExp(f), f.length);
    this.alternatives.sort((a, b) => b.weight - a.weight);
    this.pattern = new RegExp(this.alternatives.map((a) => a.source).join("|"), "g");
    this.fragments.add(s);
  }

  /** Register every string in a value (lists and maps included). */
  addAll(value: unknown): void {
    if (typeof value === "string" || typeof value === "number") this.add(value);
    else if (Array.isArray(value)) for (const v of value) this.addAll(v);
    else if (value && typeof value === "object") for (const v of Object.values(value)) this.addAll(v);
  }

  get size(): number {
    return this.values.size;
  }

  redact(text: string): string {
    if (!this.pattern || text.length === 0) return text;
    return this.fragments.redact(text.replace(this.pattern, REDACTED), REDACTED);
  }

  /** Redact every string inside a JSON-like value (a new value; the input is not changed). */
  redactValue<T>(value: T): T {
    if (!this.pattern) return value;
    const walk = (v: unknown): unknown => {
      if (typeof v === "string") return this.redact(v);
      if (Array.isArray(v)) return v.map(walk);
      if (v && typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype) {
        return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
      }
      return v;
    };
    return walk(value) as T;
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
