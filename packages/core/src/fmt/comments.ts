/*
 * Comment text as the yaml library stores it: one string per comment block, one line per source
 * line, each line the text after `#` (so "# foo" is " foo" and a bare "#" is " "), and an empty
 * line for each blank source line inside the block.
 */

/** Lines of a comment with trailing whitespace removed and runs of blank lines collapsed to one. */
export function commentLines(comment: string | null | undefined): string[] {
  if (!comment) return [];
  const out: string[] = [];
  for (const raw of comment.split("\n")) {
    const trimmed = raw.trimEnd();
    // A bare "#" is stored as " "; keep it a comment line rather than turning it into a blank line.
    const line = trimmed === "" && raw !== "" ? " " : trimmed;
    if (line === "" && out[out.length - 1] === "") continue;
    out.push(line);
  }
  return out;
}

/** Removes blank lines at the start of `lines` (in place); returns whether there were any. */
export function stripLeadingBlank(lines: string[]): boolean {
  let stripped = false;
  while (lines[0] === "") {
    lines.shift();
    stripped = true;
  }
  return stripped;
}

/** Removes blank lines at the end of `lines` (in place); returns whether there were any. */
export function stripTrailingBlank(lines: string[]): boolean {
  let stripped = false;
  while (lines.length > 0 && lines[lines.length - 1] === "") {
    lines.pop();
    stripped = true;
  }
  return stripped;
}

/** Joins comment lines back into the library's representation (null when there is nothing left). */
export function joinComment(lines: readonly string[]): string | null {
  return lines.length === 0 ? null : lines.join("\n");
}

/** Concatenates comment blocks, separating non-empty ones with `separator` lines. */
export function concatComments(separator: readonly string[], ...blocks: (readonly string[])[]): string[] {
  const out: string[] = [];
  for (const block of blocks) {
    if (block.length === 0) continue;
    if (out.length > 0) out.push(...separator);
    out.push(...block);
  }
  return out;
}

/** yaml-language-server modelines (`# yaml-language-server: $schema=…`) belong to the file, not a key. */
export function isModeline(line: string): boolean {
  return /^\s*yaml-language-server\s*:/.test(line);
}
