import { existsSync } from "node:fs";
import { utimes, writeFile } from "node:fs/promises";
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
});
