/**
 * Errors nobody awaits — a plugin's timer callback that throws, a promise it forgot — belong to
 * the run whose code made them. Each run executes inside its own async context, so whoever
 * catches such an error at the process level (the CLI's `uncaughtException` and
 * `unhandledRejection` handlers) can hand it to that run: the run fails with it, its cleanups run.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { KilnError } from "../errors.js";
import { messageOf } from "../util/abort.js";

const current = new AsyncLocalStorage<(err: KilnError) => void>();

/** Run `fn` as run code: errors that escape it asynchronously are given to `fail`. */
export function withinRun<T>(fail: (err: KilnError) => void, fn: () => T): T {
  return current.run(fail, fn);
}

/** The error a run fails with when code it ran threw where nothing awaited it. */
export function uncaughtInRun(err: unknown): KilnError {
  return new KilnError("KILN_PLUGIN_CRASH", `plugin code threw where nothing awaited it: ${messageOf(err)}`, {
    cause: err,
    hint: "This is a bug in the plugin (an error thrown from a callback or an unawaited promise); report it to its author.",
  });
}

/**
 * Give an error that nobody caught to the run it came from. False when it came from no run
 * (then the caller decides: kiln's CLI stops every run).
 */
export function failRunOf(err: unknown): boolean {
  const fail = current.getStore();
  if (!fail) return false;
  fail(uncaughtInRun(err));
  return true;
}
