/**
 * A communicator for tests whose "machine" is this one: commands run with `/bin/sh -c` in a
 * working folder (its own process group, killed on abort or timeout), and uploads/downloads are
 * local file copies. Relative remote paths are relative to the working folder; absolute remote
 * paths are used as they are (so `/tmp/script_1.sh` really is in /tmp). Like SFTP, an upload
 * does not create missing parent folders. Every operation is recorded in `calls`, and `failing`
 * makes a machine that refuses everything (commands exit 1, transfers fail).
 *
 * The provisioner conformance suite runs provisioners against it, so shell and file
 * provisioners really do their work; a test can also use it on its own.
 */
import { spawn } from "node:child_process";
import { chmod, copyFile, cp, mkdir, stat, writeFile } from "node:fs/promises";
import { isAbsolute, join } from "node:path";
import type { Communicator, ExecOptions, ExecResult, TransferOptions, UploadOptions } from "@kiln/core";
import { CommunicatorError } from "../communicator/errors.js";
import { cannotRun, launchWithPipes, type ScriptLauncher, watchAbort } from "../local-shell/spawn.js";

export interface CommunicatorCall {
  op: "connect" | "exec" | "upload" | "uploadDir" | "download" | "downloadDir" | "reconnect" | "close";
  /** The command, or the remote path. */
  target: string;
  /** Whether it got as far as running the command or copying (false when it was refused or interrupted first). */
  started: boolean;
}

export interface LocalCommunicatorOptions {
  /** The working folder: where commands run and relative remote paths point. */
  root: string;
  /** Refuse everything: commands exit with code 1 (nothing runs), transfers fail. */
  failing?: boolean;
  /** Called at the start of every operation, before it does anything. */
  onCall?: (call: CommunicatorCall) => void;
}

export interface LocalCommunicator extends Communicator {
  readonly root: string;
  /** Every operation, in order (also those that failed). */
  readonly calls: CommunicatorCall[];
  /** True until close(). */
  readonly connected: boolean;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Like launchWithPipes, with the raw streams of ExecOptions (stdin fed in, stdout/stderr as bytes). */
function launchWithStreams(x: ExecOptions): ScriptLauncher {
  return (argv, o) =>
    new Promise((resolve, reject) => {
      const [program, ...args] = argv as [string, ...string[]];
      const child = spawn(program, args, {
        cwd: o.cwd,
        env: o.env,
        stdio: [x.stdin ? "pipe" : "ignore", "pipe", "pipe"],
        detached: process.platform !== "win32",
      });
      const stop = watchAbort(
        o.signal,
        child.pid,
        (s) => child.kill(s),
        () => child.exitCode !== null || child.signalCode !== null,
      );
      if (x.stdin && child.stdin) {
        child.stdin.on("error", () => {}); // the command may exit before reading everything
        x.stdin.pipe(child.stdin);
      }
      const relay = (
        from: NodeJS.ReadableStream | null,
        to: NodeJS.WritableStream | undefined,
        name: "stdout" | "stderr",
      ) => {
        if (!from) return;
        if (to) from.pipe(to, { end: false });
        else {
          from.setEncoding("utf8");
          from.on("data", (c: string) => o.output(name, c));
        }
      };
      relay(child.stdout, x.stdout, "stdout");
      relay(child.stderr, x.stderr, "stderr");
      child.once("error", (err) => {
        stop();
        reject(cannotRun(o.fail, program, err));
      });
      child.once("close", (code, signal) => {
        stop();
        if (x.stdin && child.stdin) x.stdin.unpipe(child.stdin);
        resolve({ code, signal });
      });
    });
}

export function localCommunicator(o: LocalCommunicatorOptions): LocalCommunicator {
  const calls: CommunicatorCall[] = [];
  let open = true;
  const remote = (p: string) => (isAbsolute(p) ? p : join(o.root, p));
  const begin = (op: CommunicatorCall["op"], target: string): CommunicatorCall => {
    const call: CommunicatorCall = { op, target, started: false };
    calls.push(call);
    o.onCall?.(call);
    if (!open && op !== "close" && op !== "connect" && op !== "reconnect")
      throw new CommunicatorError("KILN_SSH_NOT_CONNECTED", `cannot ${op}: the communicator was closed`);
    return call;
  };
  const transfer = async (call: CommunicatorCall, what: string, fn: () => Promise<void>): Promise<void> => {
    if (o.failing)
      throw new CommunicatorError(
        "KILN_SSH_TRANSFER_FAILED",
        `${what} failed: refused (failing communicator)`,
      );
    call.started = true;
    try {
      await fn();
    } catch (err) {
      throw new CommunicatorError(
        "KILN_SSH_TRANSFER_FAILED",
        `${what} failed: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
  };

  return {
    root: o.root,
    calls,
    get connected() {
      return open;
    },
    async connect(signal?: AbortSignal) {
      begin("connect", "");
      if (signal?.aborted) throw new CommunicatorError("KILN_SSH_ABORTED", "connecting was interrupted");
      open = true;
    },
    async reconnect(signal?: AbortSignal) {
      begin("reconnect", "");
      if (signal?.aborted) throw new CommunicatorError("KILN_SSH_ABORTED", "reconnecting was interrupted");
      open = true;
    },
    async exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
      const call = begin("exec", command);
      for (const k of Object.keys(opts.env ?? {}))
        if (!ENV_NAME.test(k))
          throw new CommunicatorError(
            "KILN_SSH_CONFIG",
            `environment variable name "${k}" is not a valid shell identifier`,
          );
      if (opts.signal?.aborted)
        throw new CommunicatorError("KILN_SSH_ABORTED", "the command was interrupted");
      if (o.failing) {
        opts.onStderr?.("conformance: this machine refuses every command\n");
        return { exitCode: 1 };
      }
      call.started = true;
      const timeout = opts.timeoutMs !== undefined ? AbortSignal.timeout(opts.timeoutMs) : undefined;
      const signals = [opts.signal, timeout].filter((s): s is AbortSignal => s !== undefined);
      const signal = signals.length ? AbortSignal.any(signals) : new AbortController().signal;
      const env: Record<string, string> = {};
      for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
      Object.assign(env, opts.env ?? {});
      const outcome = await (opts.stdin || opts.stdout || opts.stderr
        ? launchWithStreams(opts)
        : launchWithPipes)(["/bin/sh", "-c", command], {
        cwd: o.root,
        env,
        signal,
        output: (stream, chunk) => (stream === "stdout" ? opts.onStdout : opts.onStderr)?.(chunk),
        fail: (_kind, message, extra) => new CommunicatorError("KILN_SSH_EXEC_FAILED", message, extra),
      });
      if (opts.signal?.aborted)
        throw new CommunicatorError("KILN_SSH_ABORTED", "the command was interrupted");
      if (timeout?.aborted)
        throw new CommunicatorError(
          "KILN_SSH_EXEC_TIMEOUT",
          `the command did not end within ${opts.timeoutMs} ms`,
        );
      return { exitCode: outcome.code, ...(outcome.signal ? { signal: outcome.signal } : {}) };
    },
    async upload(src: string | Buffer, remotePath: string, opts: UploadOptions = {}) {
      const call = begin("upload", remotePath);
      const dest = remote(remotePath);
      await transfer(
        call,
        `upload of ${typeof src === "string" ? src : "data"} to ${remotePath}`,
        async () => {
          let size: number;
          let mode: number;
          if (typeof src === "string") {
            const st = await stat(src);
            await copyFile(src, dest);
            size = st.size;
            mode = opts.mode ?? st.mode & 0o7777;
          } else {
            await writeFile(dest, src);
            size = src.length;
            mode = opts.mode ?? 0o644;
          }
          await chmod(dest, mode);
          opts.onProgress?.(size, size);
        },
      );
    },
    async uploadDir(localDir: string, remoteDir: string) {
      const call = begin("uploadDir", remoteDir);
      await transfer(call, `upload of ${localDir} to ${remoteDir}`, async () => {
        if (!(await stat(localDir)).isDirectory()) throw new Error(`${localDir} is not a directory`);
        await mkdir(remote(remoteDir), { recursive: true });
        await cp(localDir, remote(remoteDir), { recursive: true, force: true, verbatimSymlinks: true });
      });
    },
    async download(remotePath: string, localPath: string, opts: TransferOptions = {}) {
      const call = begin("download", remotePath);
      await transfer(call, `download of ${remotePath} to ${localPath}`, async () => {
        await copyFile(remote(remotePath), localPath);
        const size = (await stat(localPath)).size;
        opts.onProgress?.(size, size);
      });
    },
    async downloadDir(remoteDir: string, localDir: string) {
      const call = begin("downloadDir", remoteDir);
      await transfer(call, `download of ${remoteDir} to ${localDir}`, async () => {
        if (!(await stat(remote(remoteDir))).isDirectory())
          throw new Error(`${remoteDir} is not a directory`);
        await mkdir(localDir, { recursive: true });
        await cp(remote(remoteDir), localDir, { recursive: true, force: true, verbatimSymlinks: true });
      });
    },
    async close() {
      begin("close", "");
      open = false;
    },
  };
}
