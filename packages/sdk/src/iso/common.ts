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
import { isKilnError, KilnError } from "@kiln/core";
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

/** How long one run of mkfs.fat, mcopy or xorriso may take before it is stopped (10 minutes). */
export const TOOL_TIME_LIMIT_MS = 10 * 60_000;
/** After SIGTERM (abort or time limit), how long a tool gets to exit before SIGKILL. */
export const TOOL_KILL_GRACE_MS = 2000;

export interface RunToolOptions {
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  /** Stop the tool after this long (default {@link TOOL_TIME_LIMIT_MS}). */
  timeoutMs?: number;
  /** The KilnError code of the time-limit error (default KILN_TOOL_TIMEOUT). */
  timeoutCode?: string;
  /** SIGTERM, then SIGKILL after this long (default {@link TOOL_KILL_GRACE_MS}). */
  killGraceMs?: number;
}

function duration(ms: number): string {
  return ms >= 60_000 && ms % 60_000 === 0 ? `${ms / 60_000} min` : `${ms} ms`;
}

/**
 * Run `cmd`; its exit code and the last 8000 characters of its stdout and stderr together. On
 * abort or past the time limit the tool gets SIGTERM, then SIGKILL after a short grace, and the
 * promise rejects (with the signal's reason, or a KilnError) only once it has exited, so the caller
 * never removes files the tool is still writing.
 */
export function runTool(
  cmd: string,
  args: string[],
  options: RunToolOptions = {},
): Promise<{ code: number | null; output: string }> {
  const { env, signal } = options;
  const timeoutMs = options.timeoutMs ?? TOOL_TIME_LIMIT_MS;
  const graceMs = options.killGraceMs ?? TOOL_KILL_GRACE_MS;
  return new Promise((resolvePromise, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], ...(env ? { env } : {}) });
    let output = "";
    const keep = (b: Buffer) => {
      output = (output + b.toString("utf8")).slice(-8000);
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    let stopped: { reason: unknown } | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    let settled = false;
    const stop = (reason: unknown): void => {
      if (stopped) return;
      stopped = { reason };
      child.kill("SIGTERM");
      killTimer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    };
    const onAbort = (): void => stop(signal?.reason);
    const limit = setTimeout(
      () =>
        stop(
          new KilnError(
            options.timeoutCode ?? "KILN_TOOL_TIMEOUT",
            `${basename(cmd)} did not finish within ${duration(timeoutMs)}; it was stopped`,
            {
              hint: "The tool may be stuck on a slow or full disk, or on a file that never ends (a FIFO or device under the files to copy).",
            },
          ),
        ),
      timeoutMs,
    );
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      clearTimeout(limit);
      clearTimeout(killTimer);
      signal?.removeEventListener("abort", onAbort);
      return true;
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    child.once("error", (err) => {
      // Spawning failed (no process: nothing to wait for); other errors (a failed kill) wait for close.
      if (child.pid === undefined && settle()) reject(stopped ? stopped.reason : err);
    });
    child.once("exit", () => {
      // Killed: do not wait for pipes a left-over grandchild may still hold.
      if (stopped) {
        child.stdout.destroy();
        child.stderr.destroy();
      }
    });
    child.once("close", (code) => {
      if (!settle()) return;
      if (stopped) reject(stopped.reason);
      else resolvePromise({ code, output });
    });
  });
}

/**
 * A KilnError (`codes.path`) for a file system error on `path` while handling `option`: names the
 * option, the path and the errno, with a hint. `what` says what was being done (default: reading).
 */
export function fsError(
  err: unknown,
  option: string,
  path: string,
  codes: PathErrorCodes,
  what?: string,
): KilnError {
  if (isKilnError(err)) return err;
  const e = err as NodeJS.ErrnoException;
  const code = typeof e?.code === "string" ? e.code : undefined;
  const detail = `${code ?? "error"}: ${e?.message ?? String(err)}`;
  let message: string;
  let hint: string;
  switch (code) {
    case "EACCES":
    case "EPERM":
      message = `${option}: ${path} cannot be read (${detail})`;
      hint = `Give the user running kiln read access to it (and search access to its folders), or take it out of ${option}.`;
      break;
    case "ELOOP":
      message = `${option}: ${path} is a symbolic link that loops (${detail})`;
      hint = "Fix or remove the link.";
      break;
    case "ENOENT":
    case "ENOTDIR":
      message = `${option}: ${path} does not exist or is a broken symbolic link (${detail})`;
      hint = `Paths in ${option} are relative to the build file's directory; fix or remove the link.`;
      break;
    case "ENOSPC":
    case "EDQUOT":
      message = `${option}: no space left while ${what ?? "copying"} ${path} (${detail})`;
      hint = "Free some space in the temporary folder (TMPDIR) and next to the output file, then try again.";
      break;
    default:
      message = `${option}: ${what ?? "reading"} ${path} failed (${detail})`;
      hint = `Check that ${path} is a readable file or folder.`;
  }
  return new KilnError(codes.path, message, { cause: err, hint });
}

/** `op()`, with a file system error turned into {@link fsError}. */
export async function fsStep<T>(
  op: () => Promise<T>,
  option: string,
  path: string,
  codes: PathErrorCodes,
  what?: string,
): Promise<T> {
  try {
    return await op();
  } catch (err) {
    throw fsError(err, option, path, codes, what);
  }
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
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") {
      throw new KilnError(codes.notFound, `${option}: ${entry} does not exist (looked for ${src})`, {
        hint: `Paths in ${option} are relative to the build file's directory.`,
      });
    }
    throw fsError(err, option, src, codes);
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
  const real = await fsStep(() => realpath(dir), option, dir, codes);
  if (seen.has(real)) throw new KilnError(codes.path, `${option}: ${dir} links back to a directory it is in`);
  const inner = new Set(seen).add(real);
  for (const name of (await fsStep(() => readdir(dir), option, dir, codes, "listing")).sort()) {
    const src = join(dir, name);
    let st: Stats;
    try {
      st = await stat(src);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR")
        throw new KilnError(codes.path, `${option}: ${src} is a broken symbolic link`, { cause: err });
      throw fsError(err, option, src, codes);
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
