/**
 * Options declared but read nowhere are drift (an option accepted, documented, and ignored).
 * `unreadOptions` lists the schema's top-level options whose name appears in none of the given
 * code files outside the schema modules — a component's tests assert it is empty.
 *
 * It scans compiled JavaScript (dist/), so it sees the SDK's shared steps as installed too.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, dirname, join, relative } from "node:path";

export interface UnreadOptionsOptions {
  /** Folders of compiled code to search (recursively, *.js). */
  dirs: string[];
  /** File names that only declare options (schema modules) and do not count as reading them. */
  schemaFiles?: string[];
}

function jsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...jsFiles(p));
    else if (name.endsWith(".js") && !name.includes(".test.")) out.push(p);
  }
  return out;
}

/**
 * The compiled files of `dist` that still have a source beside it (`src/…/x.ts`): a stale
 * `dist/x.js` left by a deleted module must not count as reading an option. Where there is no
 * `src` (an installed package), every file counts.
 */
function currentFiles(dist: string): string[] {
  const src = join(dirname(dist), "src");
  const files = jsFiles(dist);
  if (!existsSync(src)) return files;
  return files.filter((f) => existsSync(join(src, relative(dist, f)).replace(/\.js$/, ".ts")));
}

/** The dist/ folder of the installed @kiln/sdk, whose shared steps read the shared options. */
export function sdkDistDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve("@kiln/sdk/package.json")), "dist");
}

export function unreadOptions(
  schema: { properties?: Record<string, unknown> },
  o: UnreadOptionsOptions,
): string[] {
  const skip = new Set(o.schemaFiles ?? ["schema.js", "schemas.js"]);
  const code = o.dirs
    .flatMap(currentFiles)
    .filter((f) => !skip.has(basename(f)))
    .map((f) => readFileSync(f, "utf8"))
    .join("\n");
  return Object.keys(schema.properties ?? {}).filter((name) => !new RegExp(`\\b${name}\\b`).test(code));
}
