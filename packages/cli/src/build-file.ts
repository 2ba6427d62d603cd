/**
 * The build file a command-line argument names: a file as given, or for a folder (`kiln build .`)
 * the folder's `kiln.yaml`, else its only `*.kiln.yaml`. Anything else is a usage error that says
 * what was looked for and what was found.
 */
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

export type BuildFileArg = { file: string } | { error: string };

export function buildFileOf(arg: string): BuildFileArg {
  let isDir = false;
  try {
    isDir = statSync(arg).isDirectory();
  } catch {
    // missing or unreadable: the loader says so, with its own wording
  }
  if (!isDir) return { file: arg };
  let names: string[];
  try {
    names = readdirSync(arg);
  } catch (err) {
    return { error: `cannot read the folder ${arg}: ${(err as NodeJS.ErrnoException).code ?? String(err)}` };
  }
  if (names.includes("kiln.yaml")) return { file: join(arg, "kiln.yaml") };
  const found = names.filter((n) => n.endsWith(".kiln.yaml")).sort();
  if (found.length === 1) return { file: join(arg, found[0] as string) };
  if (found.length > 1)
    return {
      error: `${arg} is a folder with ${found.length} build files (${found.join(", ")}); name one, e.g. ${join(arg, found[0] as string)}`,
    };
  const yamls = names.filter((n) => /\.ya?ml$/.test(n)).sort();
  const seen = yamls.length
    ? ` It has ${yamls.join(", ")}: name the build file, or rename it to kiln.yaml.`
    : "";
  return {
    error: `${arg} is a folder without a build file: kiln looks there for kiln.yaml, or for a single *.kiln.yaml.${seen}`,
  };
}
