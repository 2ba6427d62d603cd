import { describe, expect, it } from "vitest";
import { abortableSleep, abortError, formatBytes, messageOf } from "../index.js";

describe("abortableSleep", () => {
  it("waits, and rejects at once on abort with the signal's reason or what onAbort makes", async () => {
    await expect(abortableSleep(5)).resolves.toBeUndefined();
    const ctl = new AbortController();
    const p = abortableSleep(60_000, ctl.signal);
    ctl.abort(new Error("stop"));
    await expect(p).rejects.toThrow("stop");
    await expect(abortableSleep(10, ctl.signal, () => new Error("mine"))).rejects.toThrow("mine");
    const late = new AbortController();
    const q = abortableSleep(60_000, late.signal, (s) => abortError(s, "shell"));
    late.abort("SIGINT");
    await expect(q).rejects.toThrow("[shell] interrupted");
  });
});

describe("messageOf and formatBytes", () => {
  it("reads messages and formats sizes", () => {
    expect(messageOf(new Error("x"))).toBe("x");
    expect(messageOf(42)).toBe("42");
    expect(formatBytes(17)).toBe("17 B");
    expect(formatBytes(3 * 1024 ** 3)).toBe("3 GiB");
    expect(formatBytes(1.5 * 1024 ** 2)).toBe("1.5 MiB");
  });
});
