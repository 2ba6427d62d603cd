/** Running qemu-img and qemu-system: output capture, abort, and never leaving a process behind. */
import { type ChildProcess, spawn } from "node:child_process";
import { KilnError } from "@kiln/core";

const live = new Set<ChildProcess>();
let exitHook = false;

/** Kill (SIGKILL) every child this module started that is still running, e.g. when node exits. */
export function killAllChildren(): void {
  for (const p of live) {
    try {
      p.kill("SIGKILL");
    } catch {
      /* gone */
    }
  }
}

function track(p: ChildProcess): void {
  if (!exitHook) {
    exitHook = true;
    process.once("exit", killAllChildren);
  }
  live.add(p);
  p.once("exit", () => live.delete(p));
  p.once("error", () => live.delete(p));
}

export interface ToolResult {
  stdout: string;
  stderr: string;
}

export interface RunToolOptions {
  signal?: AbortSignal;
  /** Raw stdout chunks as they arrive (progress parsing). */
  onStdout?: (chunk: string) => void;
  /** What the command is for, in error messages ("create the disk"). */
  what: string;
  hint?: string;
}

/** Run a tool to completion; rejects with a `[qemu]` KilnError naming the command and its stderr. */
export function runTool(bin: string, args: string[], opts: RunToolOptions): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) return reject(opts.signal.reason);
    let stdout = "";
    let stderr = "";
    const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
    track(child);
    const onAbort = () => child.kill("SIGKILL");
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
      if (stdout.length > 1_000_000) stdout = stdout.slice(-500_000);
      opts.onStdout?.(d);
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
      if (stderr.length > 100_000) stderr = stderr.slice(-50_000);
    });
    child.on("error", (err) => {
      opts.signal?.removeEventListener("abort", onAbort);
      const missing = (err as NodeJS.ErrnoException).code === "ENOENT";
      reject(
        new KilnError(
          "KILN_QEMU_TOOL",
          `[qemu] cannot ${opts.what}: ${bin} ${missing ? "was not found" : `failed to start: ${err.message}`}`,
          {
            cause: err,
            hint: missing
              ? `Install QEMU (Debian/Ubuntu: apt-get install qemu-system-x86 qemu-utils) or set qemu_binary.`
              : opts.hint,
          },
        ),
      );
    });
    child.on("close", (code, sig) => {
      opts.signal?.removeEventListener("abort", onAbort);
      if (opts.signal?.aborted) return reject(opts.signal.reason);
      if (code === 0) return resolve({ stdout, stderr });
      reject(
        new KilnError(
          "KILN_QEMU_TOOL",
          `[qemu] cannot ${opts.what}: ${bin} ${args.join(" ")} exited with ${code ?? sig}${stderr.trim() ? `: ${stderr.trim().split("\n").slice(-5).join(" / ")}` : ""}`,
          { ...(opts.hint ? { hint: opts.hint } : {}) },
        ),
      );
    });
  });
}

export interface QemuProcess {
  child: ChildProcess;
  pid: number | undefined;
  /** Resolves when the process has exited (never rejects). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly running: boolean;
  /** The last lines QEMU wrote to stderr. */
  stderr(): string;
}

/** Start QEMU; its stdout/stderr are kept (the last 16 KiB) for error messages. */
export function startQemu(bin: string, args: string[], cwd?: string): QemuProcess {
  const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"], ...(cwd ? { cwd } : {}) });
  track(child);
  let err = "";
  const keep = (d: string) => {
    err += d;
    if (err.length > 16_384) err = err.slice(-16_384);
  };
  child.stdout?.setEncoding("utf8").on("data", keep);
  child.stderr?.setEncoding("utf8").on("data", keep);
  let running = true;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once("exit", (code, signal) => {
      running = false;
      resolve({ code, signal });
    });
    child.once("error", (e) => {
      running = false;
      keep(`${e.message}\n`);
      resolve({ code: null, signal: null });
    });
  });
  return {
    child,
    pid: child.pid,
    exited,
    get running() {
      return running;
    },
    stderr: () => err,
  };
}

/** Wait for `p` to exit, at most `ms`; true when it did. Rejects with the signal's reason on abort. */
export function waitExit(p: QemuProcess, ms: number, signal?: AbortSignal): Promise<boolean> {
  if (!p.running) return Promise.resolve(true);
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener("abort", onAbort);
    };
    const t = setTimeout(() => {
      done();
      resolve(false);
    }, ms);
    const onAbort = () => {
      done();
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    p.exited.then(() => {
      done();
      resolve(true);
    });
  });
}
