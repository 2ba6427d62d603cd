import type { KilnEvent } from "@kiln/core";
import { afterEach, describe, expect, it, vi } from "vitest";
import { lineFor, plainRenderer } from "./plain.js";
import { bar, describeProgress, Rate } from "./progress.js";

function sink() {
  const lines: string[] = [];
  return { out: { write: (s: string) => lines.push(...s.split("\n").filter(Boolean)) } as never, lines };
}

const MiB = 1 << 20;
const progress = (time: number, done: number, total?: number): KilnEvent => ({
  type: "progress",
  time,
  run: "b.q.s",
  id: "dl",
  label: "downloading debian.iso",
  done,
  ...(total !== undefined ? { total } : {}),
});

afterEach(() => {
  vi.useRealTimers();
});

describe("progress as people read it", () => {
  it("measures speed over the last seconds and the time left at that speed", () => {
    const r = new Rate();
    r.add(0, 0);
    expect(r.perSecond()).toBeUndefined(); // not before half a second
    r.add(1000, 10 * MiB);
    r.add(2000, 20 * MiB);
    expect(r.perSecond()).toBe(10 * MiB);
    // older samples fall out of the window: the speed follows a slowdown
    for (let t = 3000; t <= 10_000; t += 1000) r.add(t, 20 * MiB + ((t - 2000) / 1000) * MiB);
    expect(r.perSecond()).toBeCloseTo(MiB, -3);
    // a stalled transfer slows down as time passes, and stands still after the window
    expect(r.perSecond(12_000)).toBeCloseTo((3 * MiB) / 5, -3); // 25 → 28 MiB from 7 s to 12 s
    expect(r.perSecond(16_000)).toBe(0);
    // a restart (retry) starts a new measurement
    r.add(11_000, 0);
    expect(r.perSecond()).toBeUndefined();
    expect(describeProgress(300 * MiB, 650 * MiB, 12.5 * MiB)).toEqual({
      fraction: 300 / 650,
      text: "46% 300 MiB/650 MiB, 12.5 MiB/s, ETA 28s",
    });
    expect(describeProgress(5 * MiB, undefined, MiB).text).toBe("5 MiB, 1 MiB/s");
    expect(bar(0.5, 10)).toBe("█████░░░░░");
  });
});

describe("plain output (CI)", () => {
  it("prints a transfer every 5 s with its speed and time left, and its end, and not a quick one at all", () => {
    const { out, lines } = sink();
    const r = plainRenderer(out, { progressEveryMs: 5_000 });
    r.listener({ type: "run-start", time: 0, run: "b.q.s" });
    for (let t = 0; t <= 12_000; t += 500) r.listener(progress(t, (t / 1000) * 10 * MiB, 120 * MiB));
    r.listener({
      type: "progress",
      time: 13_000,
      run: "b.q.s",
      id: "small",
      label: "uploading x",
      done: 10,
      total: 10,
    });
    r.close();
    expect(lines).toEqual([
      "b.q.s: downloading debian.iso: 41% 50 MiB/120 MiB, 10 MiB/s, ETA 7s",
      "b.q.s: downloading debian.iso: 83% 100 MiB/120 MiB, 10 MiB/s, ETA 2s",
      "b.q.s: downloading debian.iso: 100% 120 MiB/120 MiB, 10 MiB/s",
    ]);
  });

  it("says which step a quiet run is in, every 30 s of silence", () => {
    vi.useFakeTimers({ now: 0 });
    const { out, lines } = sink();
    const r = plainRenderer(out, { quietEveryMs: 30_000 });
    r.listener({ type: "run-start", time: 0, run: "b.q.s" });
    r.listener({ type: "step-start", time: 0, run: "b.q.s", step: "boot" });
    vi.advanceTimersByTime(20_000);
    r.listener({ type: "say", time: Date.now(), run: "b.q.s", text: "waiting for SSH" });
    vi.advanceTimersByTime(29_000);
    expect(lines).toEqual(["b.q.s: step boot", "b.q.s: ==> waiting for SSH"]);
    vi.advanceTimersByTime(1_000);
    expect(lines.at(-1)).toBe("b.q.s: still in step boot (50s so far)");
    vi.advanceTimersByTime(30_000);
    expect(lines.at(-1)).toBe("b.q.s: still in step boot (1m20s so far)");
    r.listener({ type: "run-end", time: Date.now(), run: "b.q.s", ok: true, durationMs: 80_000 });
    vi.advanceTimersByTime(60_000);
    expect(lines.at(-1)).toBe("b.q.s: finished in 1m20s");
    r.close();
  });

  it("removes tools' escape codes, colours too, unless colour is on", () => {
    const out: KilnEvent = {
      type: "output",
      time: 0,
      run: "r",
      stream: "stdout",
      line: "\u001b[32mok\u001b[0m \u001b]0;title\u0007\u001b[2Kdone\u0007",
    };
    expect(lineFor(out)).toBe("r: ok done");
    expect(lineFor(out, { color: true })).toBe("\u001b[1mr\u001b[0m: \u001b[32mok\u001b[0m done\u001b[0m");
  });
});
