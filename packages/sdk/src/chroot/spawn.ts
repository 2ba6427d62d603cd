/**
 * Running one command line with `/bin/sh -c` on this machine, in a process group of its own, with
 * output streamed. On abort or timeout the whole group gets SIGTERM, then SIGKILL after
 * KILL_GRACE_MS; the result comes as soon as the shell has ended (its output pipes are dropped then,
 * so a process that left the group and still holds them cannot keep the caller waiting).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { KILL_GRACE_MS } from "../local-shell/spawn.js";

export { shellWord } from "../local-shell/options.js";

export interface ShellRunOptions {
  env: Record<string, string>;
  signal?: AbortSignal;
  timeoutMs?: number;
  onStdout?: (chunk: string) => void;
  onStderr?: (chunk: string) => void;
  /** Fed to the command's standard input (its end is the command's end-of-file); default: none, end-of-file at once. */
  stdin?: NodeJS.ReadableStream;
  /** Standard output as raw bytes, with back-pressure (instead of onStdout). */
  stdout?: NodeJS.WritableStream;
  /** Standard error as raw bytes, with back-pressure (instead of onStderr). */
  stderr?: NodeJS.WritableStream;
  /** Working folder (default /). */
  cwd?: string;
}

export interface ShellOutcome {
  /** The exit code, or null when a signal ended it. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Ended because `signal` aborted. */
  aborted: boolean;
  /** Ended because `timeoutMs` passed. */
  timedOut: boolean;
}

function signalGroup(pid: number | undefined, sig: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, sig);
  } catch {
    // the group is gone
  }
}

/** Run `command` with `/bin/sh -c`; rejects only when the shell cannot be started. */
export function runShell(command: string, o: ShellRunOptions): Promise<ShellOutcome> {
  return new Promise<ShellOutcome>((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn("/bin/sh", ["-c", command], {
        cwd: o.cwd ?? "/",
        env: o.env,
        stdio: [o.stdin ? "pipe" : "ignore", "pipe", "pipe"],
        detached: true,
      });
    } catch (err) {
      reject(err);
      return;
    }
    const pid = child.pid;
    let stopping: "aborted" | "timedOut" | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    let timeout: NodeJS.Timeout | undefined;
    let settled = false;
    const finish = (code: number | null, sig: NodeJS.Signals | null): void => {
      if (settled) return;
      settled = true;
      if (o.stdin && child.stdin) o.stdin.unpipe(child.stdin);
      o.signal?.removeEventListener("abort", onAbort);
      if (timeout) clearTimeout(timeout);
      if (killTimer) clearTimeout(killTimer);
      if (stopping) {
        // Whatever is left of the group goes too; the pipes are not waited for.
        signalGroup(pid, "SIGKILL");
        child.stdout?.destroy();
        child.stderr?.destroy();
      }
      resolve({ code, signal: sig, aborted: stopping === "aborted", timedOut: stopping === "timedOut" });
    };
    const stop = (why: "aborted" | "timedOut"): void => {
      if (stopping || settled) return;
      stopping = why;
      signalGroup(pid, "SIGTERM");
      killTimer = setTimeout(() => signalGroup(pid, "SIGKILL"), KILL_GRACE_MS);
      killTimer.unref();
    };
    const onAbort = (): void => stop("aborted");
    if (o.signal?.aborted) onAbort();
    else o.signal?.addEventListener("abort", onAbort, { once: true });
    if (o.timeoutMs !== undefined && o.timeoutMs > 0)
      timeout = setTimeout(() => stop("timedOut"), o.timeoutMs);
    if (o.stdin && child.stdin) {
      child.stdin.on("error", () => {}); // the command may end before it read everything
      o.stdin.pipe(child.stdin);
    }
    const relay = (
      from: NodeJS.ReadableStream | null,
      raw: NodeJS.WritableStream | undefined,
      text: ((c: string) => void) | undefined,
    ) => {
      if (!from) return;
      if (raw) from.pipe(raw, { end: false });
      else {
        from.setEncoding("utf8");
        from.on("data", (c: string) => text?.(c));
      }
    };
    relay(child.stdout, o.stdout, o.onStdout);
    relay(child.stderr, o.stderr, o.onStderr);
    child.once("error", (err) => {
      if (settled) return;
      settled = true;
      o.signal?.removeEventListener("abort", onAbort);
      if (timeout) clearTimeout(timeout);
      reject(err);
    });
    child.once("exit", (code, sig) => {
      if (stopping) finish(code, sig);
    });
    child.once("close", (code, sig) => finish(code, sig));
  });
}
