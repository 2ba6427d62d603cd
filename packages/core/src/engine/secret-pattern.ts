/**
 * One regular expression per secret that matches the secret however a program escaped it,
 * character by character: raw, backslash-escaped (`"…"` shell quoting, `printf %q`, JSON),
 * inside `$'…'` (C escapes `\n`, `\t`, `\E`, octal `\ooo`, hex `\xHH`), JSON/Python `\uXXXX`,
 * and any percent-encoding (each character encoded or not, hex in either case, space as `+`
 * or `%20`) — so `encodeURIComponent`, Python's `quote`/`quote_plus` (any `safe`), curl's
 * `--data-urlencode` and mixes of them are all one pattern.
 */

const C_ESCAPES: Record<string, string[]> = {
  "\n": ["n"],
  "\t": ["t"],
  "\r": ["r"],
  "\u0007": ["a"],
  "\b": ["b"],
  "\f": ["f"],
  "\v": ["v"],
  "\u001b": ["E", "e"],
};

function esc(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

/** A hex digit string matched in either case: "2f" → "2[fF]". */
function anyCaseHex(hex: string): string {
  return [...hex].map((d) => (/[a-f]/i.test(d) ? `[${d.toLowerCase()}${d.toUpperCase()}]` : d)).join("");
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, "0");
}

/** Every way one character may be written, as regex sources. */
function charForms(ch: string): string[] {
  const forms = [esc(ch)];
  const bytes = [...Buffer.from(ch, "utf8")];
  const code = ch.codePointAt(0) ?? 0;
  if (!/[A-Za-z0-9]/.test(ch)) forms.push(`\\\\${esc(ch)}`);
  forms.push(bytes.map((b) => `%${anyCaseHex(hex2(b).toUpperCase())}`).join(""));
  if (ch === " ") forms.push("\\+");
  if (ch === "'") forms.push("'\\\\''", `'"'"'`);
  for (const e of C_ESCAPES[ch] ?? []) forms.push(`\\\\${e}`);
  if (code < 0x20 || code >= 0x7f) {
    forms.push(bytes.map((b) => `\\\\0?${b.toString(8).padStart(3, "0")}`).join(""));
    forms.push(bytes.map((b) => `\\\\x${anyCaseHex(hex2(b))}`).join(""));
    forms.push(
      utf16(ch)
        .map((u) => `\\\\u${anyCaseHex(u)}`)
        .join(""),
    );
  }
  return forms;
}

function utf16(s: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < s.length; i++) out.push(s.charCodeAt(i).toString(16).padStart(4, "0"));
  return out;
}

/** The regex source matching `secret` in each of its escaped forms. */
export function secretPattern(secret: string): string {
  return [...secret].map((ch) => `(?:${charForms(ch).join("|")})`).join("");
}
