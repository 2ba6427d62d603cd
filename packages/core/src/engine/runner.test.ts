import { describe, expect, it } from "vitest";
import { EventBus } from "./events.js";
import { InterruptedError, runSteps, StepTimeoutError, withTimeout } from "./runner.js";
import { type RunContext, StateBag, type Step } from "./types.js";

function ctx(signal: AbortSignal): RunContext {
  const bus = new EventBus();
  return {
    run: { name: "b.t.s", build: "b", source: "s", type: "t", runUuid: "u" },
    state: new StateBag(),
    ui: bus.ui("b.t.s"),
    signal,
    buildVars: {},
    secret: () => {},
    render: (v) => v,
    baseDir: "/",
    force: false,
    tempDir: async () => "/tmp",
  };
}

const never = () => new Promise<void>(() => {});

describe("withTimeout", () => {
  it("gives up on work that ignores its signal after the grace period, on timeout and on abort", async () => {
    await expect(withTimeout("stuck", new AbortController().signal, 20, never, 20)).rejects.toBeInstanceOf(StepTimeoutError);
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(), 20);
    await expect(withTimeout("stuck", ctl.signal, undefined, never, 20)).rejects.toBeInstanceOf(InterruptedError);
    const done = new AbortController();
    done.abort();
    await expect(withTimeout("late", done.signal, undefined, never, 10)).rejects.toBeInstanceOf(InterruptedError);
  });
  it("returns the work's result and passes its errors through", async () => {
    await expect(withTimeout("ok", new AbortController().signal, 1000, async () => 42)).resolves.toBe(42);
    await expect(withTimeout("bad", new AbortController().signal, 1000, async () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
  });
});

describe("runSteps", () => {
  it("still runs every cleanup when a step never returns after an interrupt", async () => {
    const order: string[] = [];
    const steps: Step[] = [
      { name: "a", run: async () => void order.push("run a"), cleanup: async () => void order.push("cleanup a") },
      { name: "b", run: never, cleanup: async () => void order.push("cleanup b") },
      { name: "c", run: async () => void order.push("run c"), cleanup: async () => void order.push("cleanup c") },
    ];
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(), 30);
    await expect(runSteps(steps, ctx(ctl.signal), { bus: new EventBus(), onError: "cleanup", graceMs: 30 })).rejects.toBeInstanceOf(
      InterruptedError,
    );
    expect(order).toEqual(["run a", "cleanup b", "cleanup a"]);
  });
});
