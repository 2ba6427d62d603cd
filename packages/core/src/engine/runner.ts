/**
 * Running a builder's steps: each step may have a cleanup; cleanups of every step that began run
 * in reverse order on success, failure and interrupt. Steps get an AbortSignal that fires on
 * Ctrl-C/SIGTERM and on their timeout.
 */

import { isKilnError, KilnError } from "../errors.js";
import { messageOf } from "../util/abort.js";
import { type LongTimer, setLongTimeout } from "../util/timer.js";
import { CHECKPOINT_UNUSABLE } from "./checkpoint/errors.js";
import type { EventBus } from "./events.js";
import type { RunContext, Step } from "./types.js";

export type OnError = "cleanup" | "abort" | "ask" | "pause";

export interface StepRunOptions {
  bus: EventBus;
  onError: OnError;
  /** Pause before each step until the user confirms. */
  debug?: boolean;
  /** Ask the user a question (for ask, pause, debug); resolves with the answer line. */
  prompt?: (question: string) => Promise<string>;
  /** How long a step that ignores its abort signal is waited for after a timeout. */
  graceMs?: number;
}

export class StepTimeoutError extends KilnError {
  constructor(step: string, ms: number) {
    super("KILN_STEP_TIMEOUT", `step "${step}" did not finish within ${formatMs(ms)}`, {
      hint: "Raise the timeout option, or look at the machine (--on-error=pause) to see what it is waiting for.",
    });
  }
}

export class InterruptedError extends KilnError {
  constructor(what = "build") {
    super("KILN_INTERRUPTED", `${what} interrupted`);
  }
}

/** How long work that ignores its abort signal is waited for before it is abandoned. */
export const GRACE_MS = 10_000;

/**
 * Nothing is left running that could ever finish the build (the event loop is empty, yet a
 * plugin's promise is still pending): a plugin bug. Work stalled like this is abandoned at once.
 */
export class StalledError extends KilnError {
  constructor(pending: string) {
    super(
      "KILN_STALLED",
      `the build stopped making progress: ${pending} never finished, and nothing was left running that could finish it`,
      {
        hint: "A plugin returned a promise that never settles (or its module never finished loading). Report it to the plugin's author.",
      },
    );
  }
}

export function formatMs(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const s = Math.round(ms / 100) / 10;
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return `${m}m${Math.round(s - m * 60)}s`;
}

/**
 * Run `fn` with a signal that aborts on `parent` or after `timeoutMs`. Work that ignores its
 * signal is given `graceMs` to settle after an abort or timeout; then this rejects anyway, so
 * a misbehaving plugin cannot hang kiln (its cleanups still run).
 */
export async function withTimeout<T>(
  what: string,
  parent: AbortSignal,
  timeoutMs: number | undefined,
  fn: (signal: AbortSignal) => Promise<T>,
  graceMs = GRACE_MS,
): Promise<T> {
  const ctl = new AbortController();
  let timer: LongTimer | undefined;
  let grace: NodeJS.Timeout | undefined;
  let giveUp: (err: unknown) => void = () => {};
  const abandoned = new Promise<never>((_, reject) => {
    giveUp = reject;
  });
  const stop = (reason: unknown) => {
    if (ctl.signal.aborted) return;
    ctl.abort(reason);
    const why = isKilnError(reason) ? reason : new InterruptedError();
    // Stalled work can never settle: waiting for it would only end with the process.
    if (isKilnError(reason, "KILN_STALLED")) giveUp(why);
    // Not unref'd: work that ignores its signal and holds nothing open must still be given up on
    // (then cleanups run), rather than the process ending with the build half-done.
    else grace = setTimeout(() => giveUp(why), graceMs);
  };
  const onParent = () => stop(parent.reason);
  if (parent.aborted) stop(parent.reason);
  else parent.addEventListener("abort", onParent, { once: true });
  if (timeoutMs && timeoutMs > 0)
    timer = setLongTimeout(() => stop(new StepTimeoutError(what, timeoutMs)), timeoutMs);
  try {
    return await Promise.race([
      fn(ctl.signal).catch((e) => {
        if (ctl.signal.reason instanceof StepTimeoutError) throw ctl.signal.reason;
        throw e;
      }),
      abandoned,
    ]);
  } finally {
    timer?.clear();
    clearTimeout(grace);
    parent.removeEventListener("abort", onParent);
  }
}

/**
 * Run steps in order. Returns normally when all succeeded; throws the first error otherwise.
 * Cleanups run unless --on-error=abort (or the user chose abort when asked).
 */
export async function runSteps(steps: Step[], ctx: RunContext, opts: StepRunOptions): Promise<void> {
  const started: Step[] = [];
  const { bus } = opts;
  let failure: unknown;
  let skipCleanup = false;
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i] as Step;
    if (ctx.signal.aborted) {
      failure = new InterruptedError();
      break;
    }
    if (opts.debug && opts.prompt) {
      await opts.prompt(`[${ctx.run.name}] Pausing before step "${step.name}". Press Enter to continue.`);
    }
    const t0 = Date.now();
    bus.emit({ type: "step-start", time: t0, run: ctx.run.name, step: step.name });
    started.push(step);
    try {
      await withTimeout(
        step.name,
        ctx.signal,
        step.timeoutMs,
        (signal) => step.run({ ...ctx, signal }),
        opts.graceMs,
      );
      bus.emit({
        type: "step-end",
        time: Date.now(),
        run: ctx.run.name,
        step: step.name,
        ok: true,
        durationMs: Date.now() - t0,
      });
    } catch (err) {
      bus.emit({
        type: "step-end",
        time: Date.now(),
        run: ctx.run.name,
        step: step.name,
        ok: false,
        durationMs: Date.now() - t0,
      });
      const interrupted = ctx.signal.aborted && !(err instanceof StepTimeoutError);
      failure = interrupted && !isKilnError(err) ? new InterruptedError() : err;
      if (interrupted) break;
      // A checkpoint that cannot be restored is the engine's to handle: clean up, run from earlier.
      let mode: OnError = isKilnError(err, CHECKPOINT_UNUSABLE) ? "cleanup" : opts.onError;
      if (mode === "ask" && opts.prompt) {
        const ui = bus.ui(ctx.run.name);
        ui.error(`step "${step.name}" failed: ${messageOf(err)}`);
        for (;;) {
          const answer = (
            await opts.prompt("[c] Clean up and exit, [a] abort without cleanup, [r] retry step?")
          )
            .trim()
            .toLowerCase();
          if (answer === "c" || answer === "a" || answer === "r") {
            if (answer === "r") {
              started.pop();
              i--;
              failure = undefined;
              mode = "ask";
            } else mode = answer === "a" ? "abort" : "cleanup";
            break;
          }
        }
        if (failure === undefined) continue;
      }
      if (mode === "pause" && opts.prompt) {
        const ui = bus.ui(ctx.run.name);
        ui.error(`step "${step.name}" failed: ${messageOf(err)}`);
        const reach = describeMachine(ctx);
        if (reach) ui.say(`The machine is kept running for you: ${reach}`);
        await opts.prompt("Press Enter to clean up and exit.");
      }
      if (mode === "abort") {
        skipCleanup = true;
        bus.ui(ctx.run.name).say("--on-error=abort: leaving everything in place, no cleanup.");
      }
      break;
    }
  }
  const failedCleanups = skipCleanup ? [] : await runCleanups(started, ctx, bus);
  if (failure !== undefined) throw failure;
  // A build whose cleanup failed may have left a machine, a volume or a mount behind: that is
  // not a success, even when every step succeeded.
  // A plugin's own error (a KilnError) says best what is left and what to do; others are wrapped.
  const only = failedCleanups.length === 1 ? failedCleanups[0] : undefined;
  if (only && isKilnError(only.cause)) throw only.cause;
  if (failedCleanups.length > 0) throw new CleanupFailedError(failedCleanups);
}

/** Every step succeeded but at least one cleanup did not: something may be left behind. */
export class CleanupFailedError extends KilnError {
  constructor(failed: { step: string; error: string }[]) {
    const list = failed.map((f) => `"${f.step}" (${f.error})`).join(", ");
    super(
      "KILN_CLEANUP_FAILED",
      `the build's steps succeeded but the cleanup of ${list} failed: something it made may be left behind`,
    );
  }
}

function describeMachine(ctx: RunContext): string | undefined {
  const v = ctx.buildVars;
  if (!v.Host) return undefined;
  const user = v.User ? `${v.User}@` : "";
  const port = v.Port && v.Port !== 22 ? ` -p ${v.Port}` : "";
  return `ssh ${user}${v.Host}${port}`;
}

/**
 * Run cleanups in reverse; a failing cleanup is reported and the others still run. Returns the
 * cleanups that failed.
 */
export async function runCleanups(
  started: Step[],
  ctx: RunContext,
  bus: EventBus,
): Promise<{ step: string; error: string; cause: unknown }[]> {
  const failed: { step: string; error: string; cause: unknown }[] = [];
  // Cleanups must run even after an interrupt: they get a signal that is never aborted.
  const cleanupCtx: RunContext = { ...ctx, signal: new AbortController().signal };
  for (const step of [...started].reverse()) {
    if (!step.cleanup) continue;
    bus.emit({ type: "cleanup-start", time: Date.now(), run: ctx.run.name, step: step.name });
    try {
      await step.cleanup(cleanupCtx);
      bus.emit({ type: "cleanup", time: Date.now(), run: ctx.run.name, step: step.name, ok: true });
    } catch (err) {
      failed.push({ step: step.name, error: messageOf(err), cause: err });
      bus.emit({
        type: "cleanup",
        time: Date.now(),
        run: ctx.run.name,
        step: step.name,
        ok: false,
        error: messageOf(err),
      });
    }
  }
  return failed;
}
