/**
 * Glob expansion with Go's `filepath.Glob` rules, as Packer applies them to `cd_files`:
 * `*` (any run of characters but `/`), `?` (one character), `[abc]`, `[a-z]`, `[^a-z]`, and `\`
 * to escape. `*` also matches names starting with a dot. There is no `**`.
 */
import { readdir, stat } from "node:fs/promises";
import { isAbsolute, join, resolve, sep } from "node:path";

export function hasMagic(pattern: string): boolean {
  return /[*?[]/.test(pattern);
}

/** Compile one path segment of a pattern to a RegExp. Throws on a malformed class. */
export function segmentRegExp(segment: string): RegExp {
  let re = "^";
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i] as string;
    if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "\\" && i + 1 < segment.length) re += escapeRe(segment[++i] as string);
    else if (c === "[") {
      const end = segment.indexOf("]", i + 2);
      if (end < 0) throw new Error(`unterminated [ in pattern ${JSON.stringify(segment)}`);
      let body = segment.slice(i + 1, end);
      let negate = false;
      if (body.startsWith("^")) {
        negate = true;
        body = body.slice(1);
      }
      const cls = body.replace(/\\(.)/g, "$1").replace(/[\]\\^]/g, "\\$&");
      re += `[${negate ? "^/" : ""}${cls}]`;
      i = end;
    } else re += escapeRe(c);
  }
  return new RegExp(`${re}$`, "u");
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

/** Expand `pattern` (relative to `baseDir`) to the existing paths it matches, sorted. */
export async function glob(pattern: string, baseDir: string): Promise<string[]> {
  const abs = isAbsolute(pattern) ? pattern : join(baseDir, pattern);
  const normal = resolve(abs);
  const segments = normal.split(sep);
  let current = [segments[0] === "" ? sep : (segments[0] as string) + sep];
  for (const seg of segments.slice(1)) {
    if (seg === "") continue;
    const next: string[] = [];
    if (!hasMagic(seg)) {
      const literal = seg.replace(/\\(.)/g, "$1");
      for (const dir of current) next.push(join(dir, literal));
    } else {
      const re = segmentRegExp(seg);
      for (const dir of current) {
        let names: string[];
        try {
          names = await readdir(dir);
        } catch {
          continue;
        }
        for (const n of names.sort()) if (re.test(n)) next.push(join(dir, n));
      }
    }
    current = next;
    if (current.length === 0) return [];
  }
  const out: string[] = [];
  for (const p of current) {
    try {
      await stat(p);
      out.push(p);
    } catch {
      // a literal segment that does not exist
    }
  }
  return out;
}
