import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile, utimes, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { withLock } from "./lock.js";
import { tempFolder } from "./test-context.js";

let dir: string;
let cleanup: () => Promise<void>;

beforeEach(async () => {
  ({ dir, cleanup } = await tempFolder());
});
afterEach(async () => {
  await cleanup();
});

describe("withLock", () => {
  const signal = new AbortController().signal;

  it("times out with a clear error while another holder keeps the lock, and leaves its lock alone", async () => {
    const lock = join(dir, "f.lock");
    await writeFile(lock, "someone else\n");
    await expect(
      withLock(lock, { type: "manifest", signal, timeoutMs: 150 }, async () => "never"),
    ).rejects.toMatchObject({
      code: "KILN_LOCK_TIMEOUT",
      message: expect.stringMatching(/^\[manifest\] could not lock .*f\.lock/),
      hint: expect.stringContaining("remove"),
    });
    expect(existsSync(lock)).toBe(true);
  });

  it("takes over a stale lock left by a crashed run", async () => {
    const lock = join(dir, "f.lock");
    await writeFile(lock, "crashed\n");
    const old = new Date(Date.now() - 3600_000);
    await utimes(lock, old, old);
    expect(
      await withLock(lock, { type: "manifest", signal, timeoutMs: 1000, staleMs: 60_000 }, async () => "ran"),
    ).toBe("ran");
    expect(existsSync(lock)).toBe(false);
  });

  it("serialises holders and removes the lock even when the work fails", async () => {
    const lock = join(dir, "f.lock");
    let inside = 0;
    let max = 0;
    await Promise.all(
      Array.from({ length: 10 }, () =>
        withLock(lock, { type: "t", signal }, async () => {
          inside++;
          max = Math.max(max, inside);
          await new Promise((r) => setTimeout(r, 5));
          inside--;
        }),
      ),
    );
    expect(max).toBe(1);
    await expect(
      withLock(lock, { type: "t", signal }, async () => Promise.reject(new Error("boom"))),
    ).rejects.toThrow("boom");
    expect(existsSync(lock)).toBe(false);
  });

  describe("a lock left by a run that is gone is taken over at once", () => {
    // timeoutMs 0: the lock is taken on the first try or not at all, no waiting
    const once = (lock: string) =>
      withLock(lock, { type: "manifest", signal, timeoutMs: 0 }, async () => "ran");
    const owner = (pid: number, started = Date.now()) =>
      `${JSON.stringify({ pid, host: hostname(), started, token: "0123456789abcdef" })}\n`;
    const ago = async (file: string, ms: number) => {
      const t = new Date(Date.now() - ms);
      await utimes(file, t, t);
    };

    it("an empty lock (a full disk while it was written) older than a few seconds", async () => {
      const lock = join(dir, "f.lock");
      await writeFile(lock, "");
      await ago(lock, 10_000);
      expect(await once(lock)).toBe("ran");
      expect(existsSync(lock)).toBe(false);
    });

    it("a lock naming a process of this host that has ended", async () => {
      const lock = join(dir, "f.lock");
      const dead = spawnSync(process.execPath, ["-e", ""]).pid as number;
      await writeFile(lock, owner(dead));
      expect(await once(lock)).toBe("ran");
      expect(existsSync(lock)).toBe(false);
    });

    it("but not a lock whose process runs, nor an empty one just made, nor one from another host", async () => {
      const lock = join(dir, "f.lock");
      await writeFile(lock, owner(process.pid));
      await ago(lock, 60_000);
      await expect(once(lock)).rejects.toMatchObject({ code: "KILN_LOCK_TIMEOUT" });
      await writeFile(lock, "");
      await expect(once(lock)).rejects.toMatchObject({ code: "KILN_LOCK_TIMEOUT" });
      const dead = spawnSync(process.execPath, ["-e", ""]).pid as number;
      await writeFile(lock, owner(dead).replace(hostname(), "elsewhere.example"));
      await expect(once(lock)).rejects.toMatchObject({ code: "KILN_LOCK_TIMEOUT" });
      expect(existsSync(lock)).toBe(true);
    });

    it("records its owner while held", async () => {
      const lock = join(dir, "f.lock");
      const seen = await withLock(lock, { type: "manifest", signal }, async () => readFile(lock, "utf8"));
      expect(JSON.parse(seen)).toMatchObject({
        pid: process.pid,
        host: hostname(),
        token: expect.any(String),
      });
    });
  });
});
