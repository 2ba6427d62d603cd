/**
 * Who holds a lock file, and whether that holder is gone. A lock records its owner as one JSON
 * line (`{"pid", "host", "started", "token"}`); a lock is stale — taken over at once — when its
 * owner ran on this host and that process no longer exists (or the pid now belongs to a process
 * started after the lock), or when it is empty or unreadable (a crash or a full disk between
 * creating and writing it) and older than `CORRUPT_GRACE_MS`. A lock from another host is
 * stale only after the caller's `staleMs`.
 */
import { randomBytes } from "node:crypto";
import { stat } from "node:fs/promises";
import { hostname } from "node:os";

export interface LockOwner {
  pid: number;
  host: string;
  /** Milliseconds since the epoch, when the lock was taken. */
  started: number;
  token: string;
}

/** An empty or unreadable lock younger than this may be one whose owner is writing it now. */
export const CORRUPT_GRACE_MS = 5_000;

export function newOwner(): LockOwner {
  return { pid: process.pid, host: hostname(), started: Date.now(), token: randomBytes(8).toString("hex") };
}

export function encodeOwner(o: LockOwner): string {
  return `${JSON.stringify(o)}\n`;
}

export function decodeOwner(text: string): LockOwner | undefined {
  try {
    const v = JSON.parse(text) as Partial<LockOwner>;
    if (
      typeof v === "object" &&
      v !== null &&
      Number.isInteger(v.pid) &&
      typeof v.host === "string" &&
      typeof v.started === "number" &&
      typeof v.token === "string"
    ) {
      return v as LockOwner;
    }
  } catch {
    // not a lock kiln wrote
  }
  return undefined;
}

/** Whether process `pid` exists on this host (EPERM: it exists, owned by someone else). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** When process `pid` started, where /proc tells (Linux); undefined elsewhere. */
async function processStart(pid: number): Promise<number | undefined> {
  try {
    return (await stat(`/proc/${pid}`)).ctimeMs;
  } catch {
    return undefined;
  }
}

/**
 * Why the lock with this content and age is stale, or undefined while its owner may still hold
 * it. `staleMs` is the age after which any lock counts as left over.
 */
export async function staleReason(
  content: string,
  ageMs: number,
  staleMs: number,
): Promise<string | undefined> {
  if (ageMs > staleMs) return `it is ${Math.round(ageMs / 1000)}s old`;
  const owner = decodeOwner(content);
  if (!owner) return ageMs > CORRUPT_GRACE_MS ? (content ? "it names no owner" : "it is empty") : undefined;
  if (owner.host !== hostname()) return undefined;
  if (!alive(owner.pid)) return `process ${owner.pid} that took it has ended`;
  const start = await processStart(owner.pid);
  // a pid used again by a later process; a second of slack for clock granularity
  if (start !== undefined && start > owner.started + 1000)
    return `process ${owner.pid} that took it has ended`;
  return undefined;
}
