/**
 * The `chroot` communicator: provisioners reach a root filesystem mounted on this machine.
 * A command runs as `chroot <root> /bin/sh -c <command>`, passed through the command wrapper
 * (command_wrapper, e.g. `sudo ${{ build.Command }}`) and `/bin/sh -c`, in a process group of its
 * own: an abort or a timeout ends the group (SIGTERM, then SIGKILL). Its environment is a clean
 * one (PATH, HOME, SHELL, and the variables the caller passes) rather than kiln's, which may hold
 * API credentials. Files are copied by kiln itself, each path resolved inside the root (a
 * symbolic link in the image never leads to this machine's files, `..` never leaves the root).
 * close() ends every process still running in the chroot.
 */
import { stat } from "node:fs/promises";
import type { Communicator, ExecOptions, ExecResult, TransferOptions, UploadOptions } from "@kiln/core";
import { CommunicatorError } from "../communicator/errors.js";
import type { CommandWrapper } from "./host.js";
import { killProcessesUsing } from "./processes.js";
import { runShell, shellWord } from "./spawn.js";
import * as transfers from "./transfer.js";

/** The environment commands in the chroot start with (before ExecOptions.env). */
export const DEFAULT_CHROOT_ENV: Readonly<Record<string, string>> = {
  PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  HOME: "/root",
  SHELL: "/bin/sh",
};

export interface ChrootConfig {
  /** The chroot: an absolute path on this machine (where the root filesystem is mounted). */
  root: string;
  /** Turns each host command line into the one that runs (command_wrapper); default: as it is. */
  wrap?: CommandWrapper;
  /** The shell in the chroot (default /bin/sh). */
  shell?: string;
  /** The environment commands start with (default DEFAULT_CHROOT_ENV). */
  env?: Record<string, string>;
  /** Lines about what happens (processes ended at close). */
  log?: (line: string) => void;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** The host command line that runs `command` in `root` (before the wrapper). Exported for tests. */
export function chrootCommandLine(
  root: string,
  command: string,
  env: Record<string, string> = {},
  shell = "/bin/sh",
) {
  const exports = Object.entries(env).map(([k, v]) => `${k}=${q(v)}`);
  const inner = exports.length > 0 ? `export ${exports.join(" ")}; ${command}` : command;
  return `chroot ${shellWord(root)} ${shellWord(shell)} -c ${q(inner)}`;
}

export class ChrootCommunicator implements Communicator {
  readonly root: string;
  private readonly wrap: CommandWrapper;
  private readonly shell: string;
  private readonly env: Record<string, string>;
  private readonly log: (line: string) => void;
  private open = false;

  constructor(config: ChrootConfig) {
    if (!config.root.startsWith("/"))
      throw new CommunicatorError("KILN_CHROOT_CONFIG", `the chroot ${config.root} is not an absolute path`);
    this.root = config.root.replace(/(.)\/+$/, "$1");
    this.wrap = config.wrap ?? ((c) => c);
    this.shell = config.shell ?? "/bin/sh";
    this.env = { ...(config.env ?? DEFAULT_CHROOT_ENV) };
    this.log = config.log ?? (() => {});
  }

  /** True between connect() and close(). */
  get connected(): boolean {
    return this.open;
  }

  async connect(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted)
      throw new CommunicatorError("KILN_CHROOT_ABORTED", "connecting to the chroot was interrupted");
    const st = await stat(this.root).catch(() => undefined);
    if (!st?.isDirectory())
      throw new CommunicatorError("KILN_CHROOT_CONFIG", `the chroot ${this.root} is not a folder`, {
        hint: "Mount the root filesystem there first.",
      });
    this.open = true;
  }

  private requireOpen(what: string): void {
    if (!this.open)
      throw new CommunicatorError(
        "KILN_CHROOT_NOT_CONNECTED",
        `cannot ${what}: the chroot communicator is not connected`,
      );
  }

  async exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    this.requireOpen("run a command");
    for (const k of Object.keys(opts.env ?? {}))
      if (!ENV_NAME.test(k))
        throw new CommunicatorError(
          "KILN_CHROOT_CONFIG",
          `environment variable name "${k}" is not a valid shell identifier`,
        );
    if (opts.signal?.aborted)
      throw new CommunicatorError("KILN_CHROOT_ABORTED", "the command was interrupted");
    const line = this.wrap(chrootCommandLine(this.root, command, opts.env ?? {}, this.shell));
    let r: Awaited<ReturnType<typeof runShell>>;
    try {
      r = await runShell(line, {
        env: { ...this.env },
        ...(opts.signal ? { signal: opts.signal } : {}),
        ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
        ...(opts.onStdout ? { onStdout: opts.onStdout } : {}),
        ...(opts.onStderr ? { onStderr: opts.onStderr } : {}),
        ...(opts.stdin ? { stdin: opts.stdin } : {}),
        ...(opts.stdout ? { stdout: opts.stdout } : {}),
        ...(opts.stderr ? { stderr: opts.stderr } : {}),
      });
    } catch (err) {
      throw new CommunicatorError(
        "KILN_CHROOT_EXEC_FAILED",
        `cannot start ${line}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    if (r.aborted) throw new CommunicatorError("KILN_CHROOT_ABORTED", "the command was interrupted");
    if (r.timedOut)
      throw new CommunicatorError(
        "KILN_CHROOT_EXEC_TIMEOUT",
        `the command did not finish within ${opts.timeoutMs} ms in the chroot; it was stopped`,
      );
    return r.code === null
      ? { exitCode: null, ...(r.signal ? { signal: r.signal } : {}) }
      : { exitCode: r.code };
  }

  async upload(src: string | Buffer, remotePath: string, opts: UploadOptions = {}): Promise<void> {
    this.requireOpen("upload");
    await transfers.upload(this.root, src, remotePath, opts);
  }

  async uploadDir(localDir: string, remoteDir: string): Promise<void> {
    this.requireOpen("upload a folder");
    await transfers.uploadDir(this.root, localDir, remoteDir);
  }

  async download(remotePath: string, localPath: string, opts: TransferOptions = {}): Promise<void> {
    this.requireOpen("download");
    await transfers.download(this.root, remotePath, localPath, opts);
  }

  async downloadDir(remoteDir: string, localDir: string): Promise<void> {
    this.requireOpen("download a folder");
    await transfers.downloadDir(this.root, remoteDir, localDir);
  }

  /** End what still runs in the chroot (a daemon a provisioner started), then disconnect. */
  async close(): Promise<void> {
    this.open = false;
    const ended = await killProcessesUsing(this.root, "root");
    if (ended.length > 0)
      this.log(
        `ended what was still running in the chroot: ${ended.map((p) => `${p.name} (pid ${p.pid})`).join(", ")}`,
      );
  }
}
