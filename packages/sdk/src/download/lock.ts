/**
 * A lock file shared by processes: created with `open(…, "wx")`, refreshed while held, and taken
 * over when its holder is gone (a dead pid on this host, or no refresh for `staleMs`).
 */
import { randomBytes } from "node:crypto";
import { link, open, readFile, rename, stat, unlink, utimes } from "node:fs/promises";
import { hostname } from "node:os";
import { abortableSleep } from "@kiln/core";

export interface LockOptions {
  signal?: AbortSignal;
  /** A lock not refreshed for this long is stale. Default 30 s; the holder refreshes it every staleMs / 3. */
  staleMs?: number;
  pollMs?: number;
  /** Called on every poll while another holder has the lock. */
  onWait?: () => void | Promise<void>;
}

interface Owner {
  pid: number;
  host: string;
  token: string;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function readOwner(
  path: string,
): Promise<{ owner: Owner | undefined; raw: string; mtimeMs: number } | undefined> {
  try {
    const [raw, st] = await Promise.all([readFile(path, "utf8"), stat(path)]);
    let owner: Owner | undefined;
    try {
      owner = JSON.parse(raw) as Owner;
    } catch {
      owner = undefined;
    }
    return { owner, raw, mtimeMs: st.mtimeMs };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/** Move a stale lock aside, unless someone replaced it with a fresh one in the meantime. */
async function breakStale(path: string, staleRaw: string): Promise<void> {
  const aside = `${path}.stale-${randomBytes(6).toString("hex")}`;
  try {
    await rename(path, aside);
  } catch {
    return;
  }
  try {
    const raw = await readFile(aside, "utf8");
    if (raw !== staleRaw) await link(aside, path).catch(() => undefined); // a fresh lock: put it back
  } finally {
    await unlink(aside).catch(() => undefined);
  }
}

/** Take the lock, waiting for its holder. Resolves to a release function. */
export async function acquireLock(path: string, opts: LockOptions = {}): Promise<() => Promise<void>> {
  const staleMs = opts.staleMs ?? 30_000;
  const pollMs = opts.pollMs ?? 150;
  const me: Owner = { pid: process.pid, host: hostname(), token: randomBytes(8).toString("hex") };
  const mine = JSON.stringify(me);
  for (;;) {
    opts.signal?.throwIfAborted();
    try {
      const fh = await open(path, "wx");
      try {
        await fh.writeFile(mine);
      } finally {
        await fh.close();
      }
      const beat = setInterval(
        () => {
          const now = new Date();
          utimes(path, now, now).catch(() => undefined);
        },
        Math.max(50, Math.floor(staleMs / 3)),
      );
      beat.unref();
      let released = false;
      return async () => {
        if (released) return;
        released = true;
        clearInterval(beat);
        const cur = await readOwner(path).catch(() => undefined);
        if (cur?.raw === mine) await unlink(path).catch(() => undefined);
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const cur = await readOwner(path);
    if (cur) {
      const deadHere = cur.owner !== undefined && cur.owner.host === me.host && !pidAlive(cur.owner.pid);
      const silent = Date.now() - cur.mtimeMs > staleMs;
      if (deadHere || silent) {
        await breakStale(path, cur.raw);
        continue;
      }
      await opts.onWait?.();
      await abortableSleep(pollMs, opts.signal);
    }
  }
}
