import { describe, expect, it } from "vitest";
import { KilnError } from "../errors.js";
import { createRunContext } from "./context.js";
import { EventBus } from "./events.js";
import { InterruptedError, runSteps, StepTimeoutError, withTimeout } from "./runner.js";
import type { RunContext, Step } from "./types.js";

function ctx(signal: AbortSignal): RunContext {
  const bus = new EventBus();
  return createRunContext({
    run: { name: "b.t.s", build: "b", source: "s", type: "t", runUuid: "u" },
    ui: bus.ui("b.t.s"),
    signal,
    baseDir: "/",
  }).ctx;
}

const never = () => new Promise<void>(() => {});

describe("withTimeout", () => {
  it("gives up on work that ignores its signal after the grace period, on timeout and on abort", async () => {
    await expect(withTimeout("stuck", new AbortController().signal, 20, never, 20)).rejects.toBeInstanceOf(
      StepTimeoutError,
    );
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(), 20);
    await expect(withTimeout("stuck", ctl.signal, undefined, never, 20)).rejects.toBeInstanceOf(
      InterruptedError,
    );
    const done = new AbortController();
    done.abort();
    await expect(withTimeout("late", done.signal, undefined, never, 10)).rejects.toBeInstanceOf(
      InterruptedError,
    );
  });
  it("returns the work's result and passes its errors through", async () => {
    await expect(withTimeout("ok", new AbortController().signal, 1000, async () => 42)).resolves.toBe(42);
    await expect(
      withTimeout("bad", new AbortController().signal, 1000, async () => Promise.reject(new Error("boom"))),
    ).rejects.toThrow("boom");
  });
  it("honours a timeout longer than Node's 24.8-day timer limit (720h does not fire at once)", async () => {
    let seen: AbortSignal | undefined;
    const result = withTimeout("long", new AbortController().signal, 720 * 3_600_000, async (signal) => {
      seen = signal;
      await new Promise((r) => setTimeout(r, 50));
      return signal.aborted;
    });
    await expect(result).resolves.toBe(false);
    expect(seen?.aborted).toBe(false);
  });
});

describe("runSteps", () => {
  it("still runs every cleanup when a step never returns after an interrupt", async () => {
    const order: string[] = [];
    const steps: Step[] = [
      {
        name: "a",
        run: async () => void order.push("run a"),
        cleanup: async () => void order.push("cleanup a"),
      },
      { name: "b", run: never, cleanup: async () => void order.push("cleanup b") },
      {
        name: "c",
        run: async () => void order.push("run c"),
        cleanup: async () => void order.push("cleanup c"),
      },
    ];
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(), 30);
    await expect(
      runSteps(steps, ctx(ctl.signal), { bus: new EventBus(), onError: "cleanup", graceMs: 30 }),
    ).rejects.toBeInstanceOf(InterruptedError);
    expect(order).toEqual(["run a", "cleanup b", "cleanup a"]);
  });
  it("fails a run whose steps succeeded when a cleanup failed, after running the other cleanups", async () => {
    const order: string[] = [];
    const steps: Step[] = [
      {
        name: "vm",
        run: async () => void order.push("run vm"),
        cleanup: async () => void order.push("cleanup vm"),
      },
      {
        name: "volume",
        run: async () => void order.push("run volume"),
        cleanup: async () => {
          throw new Error("detach refused");
        },
      },
    ];
    const bus = new EventBus();
    const events: unknown[] = [];
    bus.subscribe((e) => void events.push(e));
    const run = runSteps(steps, ctx(new AbortController().signal), { bus, onError: "cleanup" });
    await expect(run).rejects.toMatchObject({ code: "KILN_CLEANUP_FAILED" });
    await expect(run).rejects.toThrow(/"volume" \(detach refused\).*left behind/);
    expect(order).toEqual(["run vm", "run volume", "cleanup vm"]);
    expect(events).toContainEqual(expect.objectContaining({ type: "cleanup", step: "volume", ok: false }));
  });
  it("passes a plugin's own error (a KilnError) from a single failed cleanup through as it is", async () => {
    const own = new KilnError("KILN_FOO_TERMINATE", "could not terminate server x: it is still billed");
    const steps: Step[] = [{ name: "vm", run: async () => {}, cleanup: async () => Promise.reject(own) }];
    await expect(
      runSteps(steps, ctx(new AbortController().signal), { bus: new EventBus(), onError: "cleanup" }),
    ).rejects.toBe(own);
  });
  it("keeps the step's own error when both the step and a cleanup failed", async () => {
    const steps: Step[] = [
      { name: "vm", run: async () => {}, cleanup: async () => Promise.reject(new Error("stuck")) },
      { name: "ssh", run: async () => Promise.reject(new Error("no route")) },
    ];
    await expect(
      runSteps(steps, ctx(new AbortController().signal), { bus: new EventBus(), onError: "cleanup" }),
    ).rejects.toThrow("no route");
  });
});

describe("--on-error and --debug", () => {
  const failing = (order: string[]): Step[] => [
    {
      name: "vm",
      run: async () => void order.push("run vm"),
      cleanup: async () => void order.push("cleanup vm"),
    },
    {
      name: "ssh",
      run: async () => {
        order.push("run ssh");
        if (order.filter((o) => o === "run ssh").length < 2) throw new Error("no ssh");
      },
    },
  ];
  const c = () => {
    const x = ctx(new AbortController().signal);
    x.buildVars.Host = "127.0.0.1";
    x.buildVars.Port = 2222;
    x.buildVars.User = "root";
    return x;
  };

  it("pause keeps the machine until Enter, says how to reach it, then cleans up", async () => {
    const order: string[] = [];
    const bus = new EventBus();
    const said: string[] = [];
    bus.subscribe((e) => {
      if (e.type === "say") said.push(e.text);
    });
    const prompt = async (q: string) => {
      order.push(`prompt: ${q}`);
      return "";
    };
    await expect(runSteps(failing(order), c(), { bus, onError: "pause", prompt })).rejects.toThrow("no ssh");
    expect(order).toEqual(["run vm", "run ssh", "prompt: Press Enter to clean up and exit.", "cleanup vm"]);
    expect(said.join("\n")).toContain("ssh root@127.0.0.1 -p 2222");
  });

  it("ask: [r] retries the step, [a] aborts without cleanup, [c] cleans up", async () => {
    const retried: string[] = [];
    await runSteps(failing(retried), c(), { bus: new EventBus(), onError: "ask", prompt: async () => "r" });
    expect(retried).toEqual(["run vm", "run ssh", "run ssh", "cleanup vm"]);
    const aborted: string[] = [];
    await expect(
      runSteps(failing(aborted), c(), { bus: new EventBus(), onError: "ask", prompt: async () => "a" }),
    ).rejects.toThrow();
    expect(aborted).toEqual(["run vm", "run ssh"]);
    const cleaned: string[] = [];
    await expect(
      runSteps(failing(cleaned), c(), { bus: new EventBus(), onError: "ask", prompt: async () => "c" }),
    ).rejects.toThrow();
    expect(cleaned).toEqual(["run vm", "run ssh", "cleanup vm"]);
  });

  it("debug pauses before every step", async () => {
    const prompts: string[] = [];
    const steps: Step[] = [
      { name: "one", run: async () => {} },
      { name: "two", run: async () => {} },
    ];
    await runSteps(steps, c(), {
      bus: new EventBus(),
      onError: "cleanup",
      debug: true,
      prompt: async (q) => void prompts.push(q) ?? "",
    });
    expect(prompts).toEqual([
      '[b.t.s] Pausing before step "one". Press Enter to continue.',
      '[b.t.s] Pausing before step "two". Press Enter to continue.',
    ]);
  });
});
