/** Small helpers every package needs once: an error's message, abort reasons, an abortable sleep. */
import { setTimeout as delay } from "node:timers/promises";
import { MAX_TIMER_MS } from "./timer.js";

/** The message of an error, or the thrown value as text. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * What to throw when `signal` aborted: its reason when that is an Error (a step timeout, an
 * interrupt), else a plain `[label] interrupted`.
 */
export function abortError(signal: AbortSignal, label: string): Error {
  const r: unknown = signal.reason;
  if (r instanceof Error) return r;
  return new Error(`[${label}] interrupted`);
}

export function throwIfAborted(signal: AbortSignal, label: string): void {
  if (signal.aborted) throw abortError(signal, label);
}

/**
 * Wait `ms`, rejecting as soon as `signal` aborts: with the signal's reason, or with what
 * `onAbort` makes of the signal when given.
 */
export async function abortableSleep(
  ms: number,
  signal?: AbortSignal,
  onAbort?: (signal: AbortSignal) => unknown,
): Promise<void> {
  if (signal?.aborted) throw onAbort ? onAbort(signal) : signal.reason;
  if (ms <= 0) return;
  try {
    // One timer takes at most MAX_TIMER_MS (~24.8 days); a longer wait is several in a row.
    const end = Date.now() + ms;
    for (let left = ms; left > 0; left = end - Date.now())
      await delay(Math.min(left, MAX_TIMER_MS), undefined, signal ? { signal } : undefined);
  } catch (e) {
    if (signal?.aborted) throw onAbort ? onAbort(signal) : signal.reason;
    throw e;
  }
}
