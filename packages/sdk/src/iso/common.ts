/**
 * What makeIso and makeFloppy share (internal, not exported from the package): finding and
 * running the image tools, expanding `*_files` entries (globs or paths relative to the build
 * file), walking directories with links followed, and a staging folder plus a temporary output
 * name that are removed whatever happens.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { constants, type Stats } from "node:fs";
import { access, mkdir, mkdtemp, readdir, realpath, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { KilnError } from "@kiln/core";
import { glob, hasMagic } from "./glob.js";

/** The error codes of the image kind, e.g. KILN_ISO_PATH and KILN_ISO_FILE_NOT_FOUND. */
export interface PathErrorCodes {
  path: string;
  notFound: string;
}

export async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** Run `cmd`; its exit code and the last 8000 characters of its stdout and stderr together. */
export function runTool(
  cmd: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; signal?: AbortSignal } = {},
): Promise<{ code: number | null; output: string }> {
  const { env, signal } = options;
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, {
      stdio: ["ignore", "pipe", "pipe"],
      ...(env ? { env } : {}),
      ...(signal ? { signal } : {}),
    });
    let output = "";
    const keep = (b: Buffer) => {
      output = (output + b.toString("utf8")).slice(-8000);
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    child.once("error", (err) => reject(signal?.aborted ? signal.reason : err));
    child.once("close", (code) => resolvePromise({ code, output }));
  });
}

/** The paths an `option` entry names: a glob's matches (at least one), or the path itself if it exists. */
export async function expandEntry(
  entry: string,
  baseDir: string,
  option: string,
  codes: PathErrorCodes,
): Promise<string[]> {
  if (hasMagic(entry)) {
    let matches: string[];
    try {
      matches = await glob(entry, baseDir);
    } catch (err) {
      throw new KilnError(
        codes.path,
        `${option}: bad pattern ${JSON.stringify(entry)}: ${(err as Error).message}`,
      );
    }
    if (matches.length === 0) {
      throw new KilnError(
        codes.notFound,
        `${option}: ${JSON.stringify(entry)} matches no file (in ${baseDir})`,
        {
          hint: "Check the pattern; paths are relative to the build file's directory.",
        },
      );
    }
    return matches;
  }
  const src = resolve(baseDir, entry);
  try {
    await stat(src);
  } catch {
    throw new KilnError(codes.notFound, `${option}: ${entry} does not exist (looked for ${src})`, {
      hint: `Paths in ${option} are relative to the build file's directory.`,
    });
  }
  return [src];
}

export interface TreeEntry {
  /** Path relative to the walked directory, `/`-separated. */
  rel: string;
  src: string;
  st: Stats;
}

/**
 * Every file and directory below `dir` (symbolic links followed), a directory before what it
 * holds, names sorted; `visit` sees each as it is found. Other kinds of file are passed over.
 */
export async function walkTree(
  dir: string,
  option: string,
  codes: PathErrorCodes,
  visit: (entry: TreeEntry) => void | Promise<void>,
  seen = new Set<string>(),
  prefix = "",
): Promise<void> {
  const real = await realpath(dir);
  if (seen.has(real)) throw new KilnError(codes.path, `${option}: ${dir} links back to a directory it is in`);
  const inner = new Set(seen).add(real);
  for (const name of (await readdir(dir)).sort()) {
    const src = join(dir, name);
    let st: Stats;
    try {
      st = await stat(src);
    } catch {
      throw new KilnError(codes.path, `${option}: ${src} is a broken symbolic link`);
    }
    const rel = `${prefix}${name}`;
    if (st.isDirectory()) {
      await visit({ rel, src, st });
      await walkTree(src, option, codes, visit, inner, `${rel}/`);
    } else if (st.isFile()) await visit({ rel, src, st });
  }
}

/**
 * Run `fill` with an empty staging folder (`root`) and a temporary name next to `output` to write
 * the image to (`fill` renames it to `output`); both are removed afterwards, whatever happens.
 */
export async function withStaging<T>(
  prefix: string,
  output: string,
  fill: (root: string, tmpOut: string) => Promise<T>,
): Promise<T> {
  const staging = await mkdtemp(join(tmpdir(), prefix));
  const tmpOut = join(dirname(output), `.${basename(output)}.${randomBytes(6).toString("hex")}.tmp`);
  try {
    const root = join(staging, "root");
    await mkdir(root);
    return await fill(root, tmpOut);
  } finally {
    await rm(tmpOut, { force: true }).catch(() => undefined);
    await rm(staging, { recursive: true, force: true }).catch(() => undefined);
  }
}
