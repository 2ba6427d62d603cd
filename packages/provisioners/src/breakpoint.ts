/**
 * breakpoint: pause the build until Enter is pressed, as Packer's breakpoint provisioner does,
 * so that the machine can be looked at mid-build. With `disable: true` it does nothing; when
 * standard input is not a terminal (CI), it says so and goes on rather than waiting forever.
 */
import type { ProvisionerRuntime } from "@kiln/core";
import type { BreakpointOptions } from "./schema.js";
import { abortError, throwIfAborted } from "./util.js";

const TYPE = "breakpoint";

export type { BreakpointOptions } from "./schema.js";

/** What the breakpoint reads Enter from. */
export type BreakpointInput = NodeJS.ReadableStream & { isTTY?: boolean };

export function createBreakpoint(
  input: () => BreakpointInput = () => process.stdin,
): ProvisionerRuntime<BreakpointOptions> {
  return {
    // Checkpoints: a disabled one does nothing; an active one lets a person change the machine.
    checkpointInputs: (o) => (o.disable === true ? [] : false),
    async provision(ctx) {
      // An interrupted build does not go on, not even past a disabled breakpoint.
      throwIfAborted(ctx.signal, TYPE);
      const o = ctx.options;
      const note = o.note ? ` with note "${o.note}"` : "";
      if (o.disable) {
        ctx.ui.say(`Breakpoint${note} is disabled; continuing`);
        return;
      }
      const stdin = input();
      if (!stdin.isTTY) {
        ctx.ui.say(`Breakpoint${note}`);
        ctx.ui.message(
          "Standard input is not a terminal (CI?), so kiln cannot wait for Enter: continuing without pausing",
        );
        return;
      }
      ctx.ui.say(`Pausing at breakpoint${note}. Press Enter to continue.`);
      await new Promise<void>((resolve, reject) => {
        const wasPaused = stdin.isPaused();
        const done = () => {
          stdin.removeListener("data", onData);
          stdin.removeListener("end", onEnd);
          ctx.signal.removeEventListener("abort", onAbort);
          if (wasPaused) stdin.pause();
        };
        const onData = (d: Buffer | string) => {
          const s = typeof d === "string" ? d : d.toString("utf8");
          if (s.includes("\n") || s.includes("\r")) {
            done();
            resolve();
          }
        };
        const onEnd = () => {
          done();
          resolve();
        };
        const onAbort = () => {
          done();
          reject(abortError(ctx.signal, TYPE));
        };
        if (ctx.signal.aborted) return onAbort();
        ctx.signal.addEventListener("abort", onAbort, { once: true });
        stdin.on("data", onData);
        stdin.once("end", onEnd);
        stdin.resume();
      });
      ctx.ui.message("Continuing.");
    },
  };
}

export const breakpoint = createBreakpoint();
