/**
 * An exclusive lock file (`<file>.lock`, the name Packer's manifest post-processor uses), so
 * that runs appending to the same file at the same time — in this process, in another kiln,
 * or in Packer — do not lose each other's entries.
 */
import { randomBytes } from "node:crypto";
import { open, readFile, stat, unlink } from "node:fs/promises";
import { abortableSleep } from "@kiln/sdk";
import { abortError, CODES, ppError } from "./util.js";

export interface LockOptions {
  /** The post-processor type, for messages. */
  type: string;
  signal: AbortSignal;
  /** Give up after this long. Default 60 s. */
  timeoutMs?: number;
  /** A lock file older than this is left over from a crashed run and is removed. Default 10 min. */
  staleMs?: number;
}

/** Sleep; an abort rejects with this post-processor's own abort error. */
function sleep(ms: number, signal: AbortSignal, type: string): Promise<void> {
  return abortableSleep(ms, signal).catch(() => {
    throw abortError(signal, type);
  });
}

/** Run `fn` while holding `lockPath` exclusively; the lock is removed however `fn` ends. */
export async function withLock<T>(lockPath: string, opts: LockOptions, fn: () => Promise<T>): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const staleMs = opts.staleMs ?? 10 * 60_000;
  const token = `${process.pid} ${randomBytes(8).toString("hex")}\n`;
  const deadline = Date.now() + timeoutMs;
  let delay = 5;
  for (;;) {
    if (opts.signal.aborted) throw abortError(opts.signal, opts.type);
    try {
      const fh = await open(lockPath, "wx", 0o600);
      try {
        await fh.writeFile(token);
      } finally {
        await fh.close();
      }
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") {
        throw ppError(
          opts.type,
          CODES.failed,
          `cannot create the lock file ${lockPath}: ${(err as Error).message}`,
          { cause: err },
        );
      }
    }
    try {
      const s = await stat(lockPath);
      if (Date.now() - s.mtimeMs > staleMs) {
        await unlink(lockPath).catch(() => {});
        continue;
      }
    } catch {
      continue; // removed meanwhile: try again at once
    }
    if (Date.now() >= deadline) {
      throw ppError(
        opts.type,
        CODES.lock,
        `could not lock ${lockPath} within ${Math.round(timeoutMs / 1000)}s`,
        {
          hint: `Another run is writing the same file. If none is, remove ${lockPath}.`,
        },
      );
    }
    await sleep(delay + Math.floor(Math.random() * delay), opts.signal, opts.type);
    delay = Math.min(delay * 2, 200);
  }
  try {
    return await fn();
  } finally {
    // Remove the lock only while it is still ours (a stale-lock sweep may have replaced it).
    const content = await readFile(lockPath, "utf8").catch(() => undefined);
    if (content === token) await unlink(lockPath).catch(() => {});
  }
}
