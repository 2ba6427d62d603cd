import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import type { KilnEvent } from "@kiln/core";
import { afterAll, describe, expect, it } from "vitest";
import { runLogs } from "./run-logs.js";

const dir = mkdtempSync(join(tmpdir(), "run-logs-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A disk that fills up: every write fails with ENOSPC. */
function fullDisk(): { stream: Writable; writes: () => number } {
  let writes = 0;
  const stream = new Writable({
    write(_chunk, _enc, cb) {
      writes++;
      cb(Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" }));
    },
  });
  return { stream, writes: () => writes };
}

const say = (run: string, text: string): KilnEvent => ({ type: "say", time: Date.now(), run, text });

describe("runLogs", () => {
  it("a full disk is one warning; later lines are dropped, nothing throws, close() still resolves", async () => {
    const warnings: string[] = [];
    const disks: ReturnType<typeof fullDisk>[] = [];
    const logs = runLogs({
      dir,
      warn: (t) => warnings.push(t),
      open: () => {
        const d = fullDisk();
        disks.push(d);
        return d.stream;
      },
    });
    logs.listener({ type: "build-start", time: Date.now(), runs: ["a", "b"], runUuid: "0123456789abcdef" });
    logs.listener(say("a", "first"));
    await new Promise((r) => setImmediate(r));
    for (let i = 0; i < 20; i++) {
      logs.listener(say("a", `line ${i}`));
      logs.listener(say("b", `line ${i}`));
    }
    await logs.close();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(
      /^cannot write the build log .*a\.\d{8}T\d{9}Z-01234567\.log \(ENOSPC: no space left/,
    );
    expect(disks.reduce((n, d) => n + d.writes(), 0)).toBe(1);
  });

  it("writes one file per run and invocation", async () => {
    const logs = runLogs({ dir, warn: (t) => expect.fail(t) });
    logs.listener({ type: "build-start", time: Date.now(), runs: ["r"], runUuid: "fedcba9876543210" });
    logs.listener(say("r", "hello"));
    await logs.close();
    expect(logs.files.get("r")).toMatch(/r\.\d{8}T\d{9}Z-fedcba98\.log$/);
  });
});
