import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { type BreakpointInput, breakpoint, createBreakpoint } from "./breakpoint.js";
import { breakpointSchema } from "./schema.js";
import { noMachine, provisionContext } from "./test-support.js";

function fakeTty(): PassThrough & BreakpointInput {
  const s = new PassThrough() as PassThrough & { isTTY?: boolean };
  s.isTTY = true;
  s.pause();
  return s;
}

describe("breakpoint provisioner", () => {
  it("says so and continues when standard input is not a terminal (CI)", async () => {
    const notTty = new PassThrough();
    const ctx = provisionContext(breakpointSchema, { note: "look at /etc" }, noMachine());
    await createBreakpoint(() => notTty).provision(ctx);
    expect(ctx.ui.lines()).toEqual([
      'Breakpoint with note "look at /etc"',
      "Standard input is not a terminal (CI?), so kiln cannot wait for Enter: continuing without pausing",
    ]);
  });

  it.skipIf(process.stdin.isTTY === true)(
    "does not wait on this process's own (non-terminal) standard input",
    async () => {
      const ctx = provisionContext(breakpointSchema, {}, noMachine());
      await breakpoint.provision(ctx);
      expect(ctx.ui.lines().at(-1)).toMatch(/continuing without pausing/);
    },
  );

  it("waits for Enter on a terminal", async () => {
    const tty = fakeTty();
    const ctx = provisionContext(breakpointSchema, { note: "check it" }, noMachine());
    let done = false;
    const p = createBreakpoint(() => tty)
      .provision(ctx)
      .then(() => {
        done = true;
      });
    await new Promise((r) => setTimeout(r, 150));
    expect(done).toBe(false);
    expect(ctx.ui.lines()).toEqual(['Pausing at breakpoint with note "check it". Press Enter to continue.']);
    tty.write("some typing");
    await new Promise((r) => setTimeout(r, 50));
    expect(done).toBe(false);
    tty.write("\r");
    await p;
    expect(ctx.ui.lines().at(-1)).toBe("Continuing.");
    expect(tty.listenerCount("data")).toBe(0);
  });

  it("does nothing when disabled", async () => {
    const tty = fakeTty();
    const ctx = provisionContext(breakpointSchema, { disable: true, note: "n" }, noMachine());
    await createBreakpoint(() => tty).provision(ctx);
    expect(ctx.ui.lines()).toEqual(['Breakpoint with note "n" is disabled; continuing']);
  });

  it("stops waiting when the run is aborted", async () => {
    const tty = fakeTty();
    const ctl = new AbortController();
    const ctx = provisionContext(breakpointSchema, {}, noMachine(), { signal: ctl.signal });
    const p = createBreakpoint(() => tty).provision(ctx);
    setTimeout(() => ctl.abort(new Error("interrupted")), 50);
    await expect(p).rejects.toThrow("interrupted");
    expect(tty.listenerCount("data")).toBe(0);
  });
});
