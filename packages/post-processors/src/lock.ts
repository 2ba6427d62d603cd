/**
 * An exclusive lock file (`<file>.lock`, the name Packer's manifest post-processor uses), so
 * that runs appending to the same file at the same time — in this process, in another kiln,
 * or in Packer — do not lose each other's entries. The lock names its owner (lock-owner.ts), so
 * one left by a run that died (a crash, a full disk) is taken over at once, not after staleMs.
 */
import { randomBytes } from "node:crypto";
import { type FileHandle, link, open, readFile, rename, stat, unlink } from "node:fs/promises";
import { abortableSleep } from "@kiln/sdk";
import { encodeOwner, newOwner, staleReason } from "./lock-owner.js";
import { abortError, CODES, messageOf, ppError } from "./util.js";

export interface LockOptions {
  /** The post-processor type, for messages. */
  type: string;
  signal: AbortSignal;
  /** Give up after this long. Default 60 s. */
  timeoutMs?: number;
  /**
   * A lock file older than this is left over and removed, whoever it names (a lock of another
   * host cannot be checked). Default 10 min.
   */
  staleMs?: number;
}

/** Sleep; an abort rejects with this post-processor's own abort error. */
function sleep(ms: number, signal: AbortSignal, type: string): Promise<void> {
  return abortableSleep(ms, signal).catch(() => {
    throw abortError(signal, type);
  });
}

/** Create the lock file holding `content`; false when it exists. A failed write leaves no file. */
async function create(lockPath: string, content: string, type: string): Promise<boolean> {
  let fh: FileHandle;
  try {
    fh = await open(lockPath, "wx", 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw ppError(type, CODES.failed, `cannot create the lock file ${lockPath}: ${messageOf(err)}`, {
      cause: err,
    });
  }
  try {
    await fh.writeFile(content);
    await fh.close();
    return true;
  } catch (err) {
    // ENOSPC, EIO …: an empty lock left here would block every later run
    await fh.close().catch(() => {});
    await unlink(lockPath).catch(() => {});
    throw ppError(type, CODES.failed, `cannot write the lock file ${lockPath}: ${messageOf(err)}`, {
      cause: err,
    });
  }
}

/**
 * Remove a stale lock — only the one judged stale: it is first renamed to a name of our own, so
 * of two runs taking over the same lock, one removes it and the other finds it gone; a live
 * lock renamed by mistake (replaced meanwhile) is put back.
 */
async function removeStale(lockPath: string, judged: string): Promise<void> {
  const aside = `${lockPath}.stale-${randomBytes(4).toString("hex")}`;
  try {
    await rename(lockPath, aside);
  } catch {
    return; // gone meanwhile
  }
  const content = await readFile(aside, "utf8").catch(() => judged);
  if (content !== judged) await link(aside, lockPath).catch(() => {});
  await unlink(aside).catch(() => {});
}

/** Run `fn` while holding `lockPath` exclusively; the lock is removed however `fn` ends. */
export async function withLock<T>(lockPath: string, opts: LockOptions, fn: () => Promise<T>): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const staleMs = opts.staleMs ?? 10 * 60_000;
  const token = encodeOwner(newOwner());
  const deadline = Date.now() + timeoutMs;
  let delay = 5;
  for (;;) {
    if (opts.signal.aborted) throw abortError(opts.signal, opts.type);
    if (await create(lockPath, token, opts.type)) break;
    try {
      const s = await stat(lockPath);
      const content = await readFile(lockPath, "utf8");
      if (await staleReason(content, Date.now() - s.mtimeMs, staleMs)) {
        await removeStale(lockPath, content);
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
