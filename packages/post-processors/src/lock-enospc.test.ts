/** A lock file that cannot be written (a full disk) is not left behind, empty, to block later runs. */
import { existsSync } from "node:fs";
import type * as fsp from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { tempFolder } from "./test-context.js";

vi.mock("node:fs/promises", async (original) => {
  const real = await original<typeof fsp>();
  return {
    ...real,
    open: async (...args: Parameters<typeof real.open>) => {
      const fh = await real.open(...args);
      if (String(args[0]).endsWith(".lock") && args[1] === "wx") {
        fh.writeFile = async () => {
          throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
        };
      }
      return fh;
    },
  };
});

const { withLock } = await import("./lock.js");

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempFolder());
});
afterEach(async () => {
  await cleanup();
});

describe("withLock on a full disk", () => {
  it("fails with the errno and removes the empty lock it made", async () => {
    const lock = join(dir, "f.lock");
    await expect(
      withLock(lock, { type: "manifest", signal: new AbortController().signal }, async () => "never"),
    ).rejects.toThrow(/\[manifest\] cannot write the lock file .*f\.lock: ENOSPC/);
    expect(existsSync(lock)).toBe(false);
  });
});
