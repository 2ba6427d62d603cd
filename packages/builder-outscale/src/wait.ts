/**
 * Every wait of the OUTSCALE components: bounded (a timeout with the option that sets it), with
 * backoff (from 250 ms, growing to 5 s: a few calls when things are quick, few when slow),
 * stopped at once by Ctrl-C (the signal), and failing early on the failure states instead of
 * waiting for a state that will not come (the plugin polled every 2 s, forever).
 */
import { abortableSleep } from "@kiln/core";
import { errors } from "./errors.js";

export interface WaitSpec<T> {
  /** "VM i-123 to run" */
  what: string;
  timeoutMs: number;
  /** The option that sets the timeout, for the hint. */
  timeoutOption: string;
  signal: AbortSignal;
  /** Read the current state (a missing resource is `undefined`). */
  read: () => Promise<T | undefined>;
  state: (x: T) => string;
  done: string[];
  /** States that will not turn into a done one. */
  failed: string[];
  /** Why it failed (StateComment, StateReason …). */
  reason?: (x: T) => string | undefined;
  /** A missing resource is done (a deleted VM is as good as terminated). */
  goneIsDone?: boolean;
  initialMs?: number;
  maxMs?: number;
  onState?: (state: string) => void;
}

export async function waitFor<T>(s: WaitSpec<T>): Promise<T | undefined> {
  const deadline = Date.now() + s.timeoutMs;
  let delay = s.initialMs ?? 250;
  let last: string | undefined;
  for (;;) {
    const x = await s.read();
    if (x === undefined) {
      if (s.goneIsDone) return undefined;
      throw errors.error(
        "KILN_OUTSCALE_GONE",
        `${s.what}: it is gone (no longer listed by the API)`,
        "Something else deleted it, or the platform lost it.",
      );
    }
    const st = s.state(x);
    if (st !== last) s.onState?.(st);
    last = st;
    if (s.done.includes(st)) return x;
    if (s.failed.includes(st)) {
      const why = s.reason?.(x);
      throw errors.error("KILN_OUTSCALE_STATE", `${s.what}: it is ${st}${why ? `: ${why}` : ""}`);
    }
    if (Date.now() >= deadline)
      throw errors.error(
        "KILN_OUTSCALE_TIMEOUT",
        `${s.what}: still ${st} after ${Math.round(s.timeoutMs / 1000)} s`,
        `Raise ${s.timeoutOption} if OUTSCALE is just slow.`,
      );
    await abortableSleep(Math.max(1, Math.min(delay, deadline - Date.now())), s.signal);
    delay = Math.min(s.maxMs ?? 5000, delay * 1.6);
  }
}
