/**
 * Commands run on this machine (the host of the chroot): kiln's own (losetup, mount, umount,
 * partx) and the user's (pre_mount_commands, post_mount_commands). Every one goes through the
 * command wrapper first (command_wrapper, e.g. `sudo ${{ build.Command }}`), then `/bin/sh -c`, in
 * a process group of its own that an interrupt ends. kiln's own commands run with LC_ALL=C, so
 * their messages ("target is busy") can be recognised.
 */
import { KilnError } from "@kiln/core";
import { runShell } from "./spawn.js";

export type CommandWrapper = (command: string) => string;

export interface HostCommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface HostRunOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
  /** Return a failing result instead of throwing. */
  allowFailure?: boolean;
}

export interface UserCommandOptions {
  signal?: AbortSignal;
  output: (stream: "stdout" | "stderr", chunk: string) => void;
  /** How messages name the command, e.g. "pre_mount_commands[0]". */
  label: string;
}

export interface HostCommands {
  readonly wrap: CommandWrapper;
  /** Run one of kiln's own commands and collect its output; throws when it fails (unless allowFailure). */
  run(command: string, opts?: HostRunOptions): Promise<HostCommandResult>;
  /** Run a user's command with its output streamed; throws when it exits with another code than 0. */
  runUser(command: string, opts: UserCommandOptions): Promise<void>;
}

const LIMIT = 64 * 1024;

function baseEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  return { ...env, ...extra };
}

export function interrupted(what: string): KilnError {
  return new KilnError("KILN_CHROOT_ABORTED", `interrupted while ${what}`);
}

/** The host command runner for a command wrapper (identity when none). */
export function hostCommands(wrap: CommandWrapper = (c) => c): HostCommands {
  return {
    wrap,
    async run(command, opts = {}) {
      let stdout = "";
      let stderr = "";
      const full = wrap(command);
      const r = await runShell(full, {
        env: baseEnv({ LC_ALL: "C" }),
        ...(opts.signal ? { signal: opts.signal } : {}),
        ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
        onStdout: (c) => {
          if (stdout.length < LIMIT) stdout += c;
        },
        onStderr: (c) => {
          if (stderr.length < LIMIT) stderr += c;
        },
      }).catch((err: unknown) => {
        throw new KilnError("KILN_CHROOT_COMMAND", `cannot run ${full}: ${(err as Error).message}`, {
          cause: err,
        });
      });
      if (r.aborted) throw interrupted(`running ${command}`);
      if (r.timedOut)
        throw new KilnError(
          "KILN_CHROOT_COMMAND",
          `${command} did not finish within ${opts.timeoutMs} ms; it was stopped`,
        );
      const result = { code: r.code, stdout, stderr };
      if (r.code !== 0 && !opts.allowFailure) {
        const why = stderr.trim() || stdout.trim();
        throw new KilnError(
          "KILN_CHROOT_COMMAND",
          `${command} failed (${r.code === null ? `killed by ${r.signal}` : `exit code ${r.code}`})${why ? `: ${why}` : ""}`,
        );
      }
      return result;
    },
    async runUser(command, opts) {
      const full = wrap(command);
      const r = await runShell(full, {
        env: baseEnv(),
        ...(opts.signal ? { signal: opts.signal } : {}),
        onStdout: (c) => opts.output("stdout", c),
        onStderr: (c) => opts.output("stderr", c),
      }).catch((err: unknown) => {
        throw new KilnError(
          "KILN_CHROOT_COMMAND",
          `${opts.label}: cannot run ${full}: ${(err as Error).message}`,
          {
            cause: err,
          },
        );
      });
      if (r.aborted) throw interrupted(`running ${opts.label}`);
      if (r.code !== 0)
        throw new KilnError(
          "KILN_CHROOT_COMMAND",
          `${opts.label} failed (${r.code === null ? `killed by ${r.signal}` : `exit code ${r.code}`}): ${command}`,
          { hint: "Its output is above. The command ran on this machine with /bin/sh -c." },
        );
    },
  };
}
