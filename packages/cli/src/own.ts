/**
 * This kiln's own install: its package folder and version. Found by walking up from this module
 * to the nearest package.json, so it is the same whether the code runs from tsc's dist/ or from
 * the bundle in bundle/.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error("kiln: no package.json above the CLI's own code");
    dir = parent;
  }
  return dir;
}

/** The folder of the @kiln/cli package (the standard set it was installed with resolves from here). */
export const CLI_DIR = packageRoot();

let version: string | undefined;
/** The version of @kiln/cli. */
export function cliVersion(): string {
  version ??= String(JSON.parse(readFileSync(join(CLI_DIR, "package.json"), "utf8")).version);
  return version;
}
