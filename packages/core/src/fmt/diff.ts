import { createTwoFilesPatch, FILE_HEADERS_ONLY } from "diff";

/**
 * Unified diff between two texts: `--- <fileName>` / `+++ <fileName>` headers followed by `@@` hunks
 * with three lines of context. Returns "" when the texts are equal.
 */
export function unifiedDiff(oldText: string, newText: string, fileName: string): string {
  if (oldText === newText) return "";
  return (
    createTwoFilesPatch(fileName, fileName, oldText, newText, undefined, undefined, {
      context: 3,
      headerOptions: FILE_HEADERS_ONLY,
    }) ?? ""
  );
}
