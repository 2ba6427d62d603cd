import { Deferred } from "@kiln/core";
import { describe, expect, it } from "vitest";
import type { KeyDriver } from "../boot/type.js";
import { BOOT_TYPING, bootCommandStep, bootGroups, checkBootCommand, countKeys } from "./boot-command.js";
import { stepContext } from "./steps.test-context.js";

function recorder(): { driver: KeyDriver; pressed: string[][]; closed: boolean } {
  const rec = { pressed: [] as string[][], closed: false, driver: undefined as unknown as KeyDriver };
  rec.driver = {
    press: async (keys) => {
      rec.pressed.push(keys);
    },
    keyInterval: 0,
  };
  return rec;
}

describe("bootCommandStep", () => {
  it("waits boot_wait, renders http.*, types through the builder's keyboard and records the rate", async () => {
    const rec = recorder();
    const { ctx, says } = stepContext("/");
    ctx.buildVars.PackerHTTPIP = "10.0.2.2";
    const t0 = Date.now();
    await bootCommandStep(
      // As the loader gives it: the string with a build-time value is a marker.
      { boot_wait: "50ms", boot_command: [Deferred.parse("ab ${{ http.ip }}<enter>") as unknown as string] },
      {
        keyboard: async () => ({
          driver: rec.driver,
          via: "over a test keyboard",
          close: async () => {
            rec.closed = true;
          },
        }),
      },
    ).run(ctx);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(45);
    expect(rec.pressed.map((k) => k.join("+"))).toEqual([
      "a",
      "b",
      "spc",
      "1",
      "0",
      "dot",
      "0",
      "dot",
      "2",
      "dot",
      "2",
      "ret",
    ]);
    expect(rec.closed).toBe(true);
    expect(ctx.state.require(BOOT_TYPING).keys).toBe(12);
    expect(says().some((s) => /^Typed 12 keys in .* keys\/s\) over a test keyboard\.$/.test(s))).toBe(true);
  });

  it("types boot_steps in turn with their descriptions, and does nothing without a boot command", async () => {
    const rec = recorder();
    const { ctx, says } = stepContext("/");
    await bootCommandStep(
      { boot_wait: "0s", boot_steps: [["a", "first"], ["b"]] },
      { keyboard: async () => ({ driver: rec.driver }) },
    ).run(ctx);
    expect(rec.pressed).toEqual([["a"], ["b"]]);
    expect(says()).toContain("Typing boot command: first");
    let opened = false;
    await bootCommandStep(
      { boot_wait: "0s" },
      {
        keyboard: async () => {
          opened = true;
          return { driver: rec.driver };
        },
      },
    ).run(stepContext("/").ctx);
    expect(opened).toBe(false);
  });

  it("hands a typing failure to the builder's failure hook, but an interrupt passes through", async () => {
    const failing: KeyDriver = {
      press: async () => {
        throw new Error("socket closed");
      },
    };
    const { ctx } = stepContext("/");
    await expect(
      bootCommandStep(
        { boot_wait: "0s", boot_command: ["x"] },
        {
          keyboard: async () => ({ driver: failing }),
          failure: (e) => new Error(`[test] typing failed: ${(e as Error).message}`),
        },
      ).run(ctx),
    ).rejects.toThrow("[test] typing failed: socket closed");
    const ctl = new AbortController();
    const aborted = stepContext("/", { signal: ctl.signal });
    const p = bootCommandStep(
      { boot_wait: "10m", boot_command: ["x"] },
      { keyboard: async () => ({ driver: failing }), failure: () => new Error("must not be called") },
    ).run(aborted.ctx);
    ctl.abort(new Error("interrupted"));
    await expect(p).rejects.toThrow("interrupted");
  });

  it("checks the syntax before anything starts, and counts keys and waits", () => {
    expect(() => checkBootCommand({ boot_wait: "0s", boot_command: ["<waitsoon>"] })).toThrow();
    // A build-time marker (as the loader gives it) is checked by its text, not refused.
    const marker = Deferred.parse("<tab> ip=${{ http.ip }}<enter>") as unknown as string;
    expect(() => checkBootCommand({ boot_wait: "0s", boot_command: [marker] })).not.toThrow();
    expect(bootGroups({ boot_wait: "0s", boot_command: ["a", "b"] })).toEqual([{ command: ["a", "b"] }]);
    expect(countKeys([{ type: "char", char: "a" } as never, { type: "wait", ms: 5 } as never])).toEqual({
      keys: 1,
      waitMs: 5,
    });
  });
});
