/**
 * Starting a local script: each in its own process group, output streamed, and on abort the whole
 * group killed (TERM, then KILL after a grace period). A launcher that uses something other than
 * pipes (a pseudo-terminal) plugs in as a ScriptLauncher and uses watchAbort the same way.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { constants } from "node:os";
import type { LocalShellErrorFactory } from "./options.js";

/** Milliseconds between SIGTERM and SIGKILL when the run is interrupted. */
export const KILL_GRACE_MS = 3000;

const isWindows = process.platform === "win32";

/** How a script ended: its exit code, or (code null) the signal that ended it. */
export interface ScriptOutcome {
  code: number | null;
  signal: string | null;
}

export interface LaunchOptions {
  cwd: string;
  env: Record<string, string>;
  /** When it aborts, the script's process group is killed. */
  signal: AbortSignal;
  output(stream: "stdout" | "stderr", chunk: string): void;
  fail: LocalShellErrorFactory;
}

/** Runs one command line (program first) and settles when it has ended. */
export type ScriptLauncher = (argv: string[], o: LaunchOptions) => Promise<ScriptOutcome>;

/** A signal's name (SIGTERM) from its number; null for none. */
export function signalName(n: number | undefined | null): string | null {
  if (!n) return null;
  const found = Object.entries(constants.signals).find(([, v]) => v === n);
  return found ? found[0] : `signal ${n}`;
}

/** The error for a program that could not be started. */
export function cannotRun(fail: LocalShellErrorFactory, program: string, err: unknown): Error {
  return fail("failed", `cannot run ${program}: ${err instanceof Error ? err.message : String(err)}`, {
    cause: err,
  });
}

/**
 * Signal the process group of `pid` (on Windows, or when there is no group, `fallback` or the
 * process). Once the process has ended (`exited`), only its group is signalled: its pid may
 * already belong to another process.
 */
export function killGroup(
  pid: number | undefined,
  signal: NodeJS.Signals,
  fallback?: (signal: NodeJS.Signals) => void,
  exited = false,
): void {
  if (pid === undefined) return;
  try {
    if (isWindows) {
      if (exited) return;
      fallback?.(signal);
    } else process.kill(-pid, signal);
  } catch {
    if (exited) return;
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/**
 * Kill the group of `pid` when `signal` aborts (TERM, then KILL after KILL_GRACE_MS); returns the
 * function to call when the process has ended (been reaped), which stops watching and, after an
 * abort, kills whatever the script left running in its group (the group only, not the pid).
 * `exited` tells whether the process has ended before that call (default: not until then).
 */
export function watchAbort(
  signal: AbortSignal,
  pid: number | undefined,
  fallback?: (signal: NodeJS.Signals) => void,
  exited: () => boolean = () => false,
): () => void {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const gone = () => stopped || exited();
  const onAbort = () => {
    killGroup(pid, "SIGTERM", fallback, gone());
    timer = setTimeout(() => killGroup(pid, "SIGKILL", fallback, gone()), KILL_GRACE_MS);
    timer.unref();
  };
  if (signal.aborted) onAbort();
  else signal.addEventListener("abort", onAbort, { once: true });
  return () => {
    stopped = true;
    signal.removeEventListener("abort", onAbort);
    if (timer) clearTimeout(timer);
    if (signal.aborted) killGroup(pid, "SIGKILL", fallback, true);
  };
}

/** Run with standard input from /dev/null and output through pipes, in a process group of its own. */
export const launchWithPipes: ScriptLauncher = (argv, o) =>
  new Promise((resolve, reject) => {
    const [program, ...args] = argv as [string, ...string[]];
    let child: ChildProcess;
    try {
      child = spawn(program, args, {
        cwd: o.cwd,
        env: o.env,
        stdio: ["ignore", "pipe", "pipe"],
        // Its own process group, so that an interrupt reaches everything the script started.
        detached: !isWindows,
        windowsHide: true,
      });
    } catch (err) {
      reject(cannotRun(o.fail, program, err));
      return;
    }
    // Reaped once exitCode or signalCode is set ('exit'), which can be well before 'close' (a
    // process the script started may hold its output open).
    const stop = watchAbort(
      o.signal,
      child.pid,
      (s) => child.kill(s),
      () => child.exitCode !== null || child.signalCode !== null,
    );
    child.stdout?.setEncoding("utf8");
    child.stderr?.setEncoding("utf8");
    child.stdout?.on("data", (c: string) => o.output("stdout", c));
    child.stderr?.on("data", (c: string) => o.output("stderr", c));
    child.once("error", (err) => {
      stop();
      reject(cannotRun(o.fail, program, err));
    });
    child.once("close", (code, signal) => {
      stop();
      resolve({ code, signal });
    });
  });
