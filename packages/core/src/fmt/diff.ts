import { createRequire } from "node:module";

type DiffModule = typeof import("diff");
let diffModule: DiffModule | undefined;
/** `diff` is loaded on first use: only `kiln fmt --diff` needs it, and every CLI start would pay for it. */
const loadDiff = (): DiffModule => {
  diffModule ??= createRequire(import.meta.url)("diff") as DiffModule;
  return diffModule;
};

/**
 * Unified diff between two texts: `--- <fileName>` / `+++ <fileName>` headers followed by `@@` hunks
 * with three lines of context. Returns "" when the texts are equal.
 */
export function unifiedDiff(oldText: string, newText: string, fileName: string): string {
  if (oldText === newText) return "";
  const { createTwoFilesPatch, FILE_HEADERS_ONLY } = loadDiff();
  return (
    createTwoFilesPatch(fileName, fileName, oldText, newText, undefined, undefined, {
      context: 3,
      headerOptions: FILE_HEADERS_ONLY,
    }) ?? ""
  );
}
