/**
 * Which lines of a YAML (or JSON) text hold sensitive values, found in the text itself so it
 * works for a file that does not parse: the `default:` of a variable declared `sensitive: true`
 * (block or flow style, keys quoted or not), and in a variables file the values of the keys
 * named sensitive. Code frames show these lines as `***`.
 */

const SENSITIVE = /^(\s*)(?:-\s+)?["']?sensitive["']?\s*:\s*(?:true|True|TRUE)\b/;
const FLOW_SENSITIVE = /["']?sensitive["']?\s*:\s*(?:true|True|TRUE)\b/;

const indentOf = (line: string): number => /^\s*/.exec(line)?.[0].length ?? 0;
const blank = (line: string): boolean => /^\s*(#.*)?$/.test(line);
const keyOf = (line: string): string | undefined =>
  /^\s*(?:-\s+)?(?:"((?:[^"\\]|\\.)*)"|'((?:[^']|'')*)'|([^\s:#'"][^:#]*?))\s*:(?:\s|$)/
    .exec(line)
    ?.slice(1)
    .find((k) => k !== undefined);

/** Mark line `i` (0-based) and the lines below it that are indented deeper (its value). */
function markValue(lines: string[], i: number, out: Set<number>): void {
  const indent = indentOf(lines[i] ?? "");
  out.add(i + 1);
  for (let j = i + 1; j < lines.length; j++) {
    const l = lines[j] ?? "";
    if (!blank(l) && indentOf(l) <= indent) break;
    out.add(j + 1);
  }
}

/** 1-based numbers of the lines holding sensitive values; `keys`: top-level keys whose values are secret. */
export function sensitiveLines(text: string, keys: ReadonlySet<string> = new Set()): Set<number> {
  const lines = text.split(/\r?\n/);
  const out = new Set<number>();
  lines.forEach((line, i) => {
    // Flow style: `pw: { sensitive: true, default: x }` — the declaration's lines are all masked.
    if (FLOW_SENSITIVE.test(line) && /[{,]\s*["']?sensitive/.test(line)) {
      markValue(lines, i, out);
      return;
    }
    const m = SENSITIVE.exec(line);
    if (m) {
      const indent = (m[1] ?? "").length;
      // The siblings of `sensitive:` (same indentation, same block), up and down.
      const scan = (from: number, step: number) => {
        for (let j = from; j >= 0 && j < lines.length; j += step) {
          const l = lines[j] ?? "";
          if (blank(l)) continue;
          const ind = indentOf(l);
          if (ind < indent) break;
          if (ind === indent && keyOf(l) === "default") markValue(lines, j, out);
        }
      };
      scan(i - 1, -1);
      scan(i + 1, 1);
    }
    if (keys.size > 0 && indentOf(line) === 0) {
      const k = keyOf(line);
      if (k !== undefined && keys.has(k)) markValue(lines, i, out);
    }
  });
  // A JSON variables file on one line, or a flow map: mask a line naming a sensitive key.
  if (keys.size > 0) {
    lines.forEach((line, i) => {
      for (const k of keys) if (namesKey(line, k)) out.add(i + 1);
    });
  }
  return out;
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const namesKey = (line: string, key: string): boolean =>
  new RegExp(`(^|[\\s{,])["']?${escapeRe(key)}["']?\\s*:`).test(line);

/** The masked lines near line `at` (the code frame shows `at` and the line before it). */
export function maskedNear(masked: ReadonlySet<number>, at: number): number[] {
  return [at - 1, at, at + 1].filter((l) => masked.has(l));
}

/** `diags` with `masked` set from the sensitive lines of `text` (the file at `file`). */
export function maskDiagnostics<D extends { pos?: { file: string; line: number }; masked?: number[] }>(
  diags: D[],
  file: string,
  text: string,
): D[] {
  const lines = sensitiveLines(text);
  return diags.map((d) => {
    const near = d.pos?.file === file ? maskedNear(lines, d.pos.line) : [];
    return near.length > 0 ? { ...d, masked: near } : d;
  });
}
