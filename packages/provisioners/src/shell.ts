/**
 * shell: upload scripts to the machine and run them over the communicator, as Packer's shell
 * provisioner does.
 *
 * - One of inline (joined into one script under `#!<inline_shebang>`, default `/bin/sh -e`),
 *   script and/or scripts (local paths, relative to the build file's folder; CRLF line endings
 *   become LF unless `binary`).
 * - Each script is uploaded to remote_path (default `<remote_folder>/<remote_file>`, i.e.
 *   `/tmp/script_<random>.sh`) and run as execute_command (default
 *   `chmod +x {{.Path}}; {{.Vars}} {{.Path}}`, or `chmod +x {{.Path}}; . {{.EnvVarFile}} && {{.Path}}`
 *   with use_env_var_file). `{{.Vars}}` is `NAME='value' ` per variable (env_var_format), sorted:
 *   PACKER_BUILD_NAME, PACKER_BUILDER_TYPE, PACKER_HTTP_* when known, environment_vars, env.
 * - Output streams to the build's output. An exit code outside valid_exit_codes (default [0])
 *   fails with `[shell] script … exited with code N`.
 * - expect_disconnect: a script that reboots the machine may drop the connection; kiln then
 *   reconnects before going on. Uploading and starting a script is retried for
 *   start_retry_timeout (default 5m) while the machine is not reachable.
 * - The uploaded script (and variables file) is removed afterwards unless skip_clean.
 */

import { randomInt } from "node:crypto";
import { readFile } from "node:fs/promises";
import { posix } from "node:path";
import {
  type Communicator,
  type ExecResult,
  localPaths,
  type ProvisionContext,
  type ProvisionerRuntime,
  setLongTimeout,
} from "@kiln/core";
import { CommunicatorError, endGroup, groupedCommand, scriptProblems } from "@kiln/sdk";
import type { ShellOptions } from "./schema.js";
import {
  abortError,
  CODES,
  duration,
  exitCodes,
  flattenEnv,
  inlineScript,
  messageOf,
  provError,
  renderCommand,
  resolveLocal,
  scriptEnv,
  scriptSources,
  shellQuote,
  shellWord,
  sleep,
  throwIfAborted,
  wrapError,
} from "./util.js";

export type { ShellOptions } from "./schema.js";

const TYPE = "shell";

/** Packer's exit status for "the connection went away" (usable in valid_exit_codes). */
export const DISCONNECTED_EXIT_CODE = 2300218;

interface Script {
  /** For messages: the path as written, or "inline script". */
  label: string;
  body: Buffer;
}

/** Errors that mean the script never started because the machine is not reachable (yet). */
function startFailureIsTransient(err: unknown, comm: Communicator): boolean {
  if (!CommunicatorError.is(err)) return false;
  switch (err.code) {
    case "KILN_SSH_NOT_CONNECTED":
    case "KILN_SSH_EXEC_FAILED":
    case "KILN_SSH_TIMEOUT":
    case "KILN_SSH_DISCONNECTED":
      return true;
    case "KILN_SSH_TRANSFER_FAILED":
      // A transfer that failed on a live connection (permission denied, no such folder) will not
      // get better by waiting; one that failed because the machine went away will.
      return (comm as { connected?: boolean }).connected !== true;
    default:
      return false;
  }
}

function alive(comm: Communicator): boolean {
  return (comm as { connected?: boolean }).connected !== false;
}

/** An AbortSignal that fires with `parent` or after `ms`. */
function deadlineSignal(parent: AbortSignal, ms: number): { signal: AbortSignal; dispose(): void } {
  const ctl = new AbortController();
  const onAbort = () => ctl.abort(parent.reason);
  if (parent.aborted) ctl.abort(parent.reason);
  else parent.addEventListener("abort", onAbort, { once: true });
  const t = setLongTimeout(() => ctl.abort(new Error("start_retry_timeout reached")), ms);
  return {
    signal: ctl.signal,
    dispose() {
      t.clear();
      parent.removeEventListener("abort", onAbort);
    },
  };
}

/** An error that `retrying` passes on as it is: the script started, so starting it again is wrong. */
class Final {
  constructor(readonly error: Error) {}
}

class ShellRun {
  private readonly comm: Communicator;
  readonly retryMs: number;

  constructor(private readonly ctx: ProvisionContext<ShellOptions>) {
    this.comm = ctx.communicator;
    this.retryMs = duration(TYPE, "start_retry_timeout", ctx.options.start_retry_timeout);
  }

  /** Wait for the machine to take SSH again, for at most `ms`. */
  async reconnect(ms: number, why: string): Promise<void> {
    const { ctx, comm } = this;
    throwIfAborted(ctx.signal, TYPE);
    const d = deadlineSignal(ctx.signal, ms);
    try {
      if (comm.reconnect) await comm.reconnect(d.signal);
      else await comm.connect(d.signal);
    } catch (err) {
      if (ctx.signal.aborted) throw abortError(ctx.signal, TYPE);
      throw wrapError(TYPE, `the machine did not take a connection again ${why}`, err);
    } finally {
      d.dispose();
    }
  }

  /**
   * Run `fn` (an upload, or an upload and the start of a command), retrying for
   * start_retry_timeout while the failure is the machine being unreachable.
   */
  async retrying<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const { ctx, comm } = this;
    const deadline = Date.now() + this.retryMs;
    let delay = 1000;
    for (let attempt = 1; ; attempt++) {
      throwIfAborted(ctx.signal, TYPE);
      try {
        return await fn();
      } catch (err) {
        if (ctx.signal.aborted) throw abortError(ctx.signal, TYPE);
        if (err instanceof Final) throw err.error;
        const left = deadline - Date.now();
        if (!startFailureIsTransient(err, comm) || left <= 0) {
          throw wrapError(
            TYPE,
            attempt > 1 ? `${what} failed (gave up after ${attempt} attempts)` : `${what} failed`,
            err,
          );
        }
        ctx.ui.message(
          `${what} failed, retrying (start_retry_timeout leaves ${Math.ceil(left / 1000)}s): ${messageOf(err)}`,
        );
        if (!alive(comm)) {
          try {
            await this.reconnect(left, `within start_retry_timeout`);
          } catch (e) {
            if (ctx.signal.aborted) throw e;
            // Still unreachable when start_retry_timeout (or ssh_timeout) ran out: the loop gives up
            // once the deadline passed. Anything else (authentication, host key) will not improve.
            const cause = (e as { cause?: unknown }).cause;
            if (
              !CommunicatorError.is(cause, "KILN_SSH_TIMEOUT") &&
              !CommunicatorError.is(cause, "KILN_SSH_ABORTED")
            )
              throw e;
          }
        } else {
          await sleep(Math.min(delay, Math.max(0, deadline - Date.now())), ctx.signal, TYPE);
          delay = Math.min(delay * 2, 10_000);
        }
      }
    }
  }

  /** Remove remote files; failures are reported, and fail the provisioner only when `strict`. */
  async remove(paths: string | string[], strict: boolean): Promise<void> {
    const { ctx, comm } = this;
    const list = [paths].flat();
    const path = list.join(", ");
    const cmd = `rm -f ${list.map((p) => shellQuote(p)).join(" ")}`;
    // Interrupted (before or during the removal): one quick best-effort attempt on a fresh
    // signal, so nothing is left behind.
    const lastTry = async () => {
      if (alive(comm)) await comm.exec(cmd, { timeoutMs: 10_000 }).catch(() => {});
    };
    if (ctx.signal.aborted) return lastTry();
    try {
      const r = await this.retrying(`removing ${path}`, () => comm.exec(cmd, { signal: ctx.signal }));
      if (r.exitCode !== 0) throw new Error(`rm exited with code ${String(r.exitCode)}`);
    } catch (err) {
      if (ctx.signal.aborted) return lastTry();
      if (strict) throw wrapError(TYPE, `could not remove the uploaded script ${path}`, err);
      ctx.ui.error(`[${TYPE}] could not remove ${path}: ${messageOf(err)}`);
    }
  }
}

async function loadScripts(ctx: ProvisionContext<ShellOptions>): Promise<Script[]> {
  const o = ctx.options;
  const src = scriptSources(TYPE, o, false);
  if (src.kind === "inline")
    return [{ label: "inline script", body: Buffer.from(inlineScript(o.inline_shebang, src.lines)) }];
  if (src.kind === "command")
    return [{ label: "command", body: Buffer.from(inlineScript(o.inline_shebang, [src.command])) }];
  const out: Script[] = [];
  for (const f of src.files) {
    const p = resolveLocal(ctx, f);
    let body: Buffer;
    try {
      body = await readFile(p);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw provError(
        TYPE,
        CODES.options,
        `script ${f} cannot be read (${p}): ${code === "ENOENT" ? "no such file" : (code ?? messageOf(err))}`,
        {
          hint: "Paths are relative to the folder of the build file.",
        },
      );
    }
    if (!o.binary && body.includes(0x0d))
      body = Buffer.from(body.toString("latin1").replace(/\r\n/g, "\n"), "latin1");
    out.push({ label: f, body });
  }
  return out;
}

export const shell: ProvisionerRuntime<ShellOptions> = {
  // Checkpoints: the scripts it uploads and runs (inline commands are options, in the key anyway).
  checkpointInputs: (o) => localPaths(o.script, o.scripts),
  check: (o, ctx) => scriptProblems(o, ctx),
  async provision(ctx) {
    const o = ctx.options;
    const ui = ctx.ui;
    const comm = ctx.communicator;
    const codes = exitCodes(TYPE, o.valid_exit_codes);
    const useEnvFile = o.use_env_var_file === true;
    const vars = scriptEnv(TYPE, ctx, o);
    const format = o.env_var_format ?? (useEnvFile ? "export %s='%s'\n" : "%s='%s' ");
    const flattened = flattenEnv(vars, format);
    const executeCommand =
      o.execute_command ??
      (useEnvFile
        ? "chmod +x {{.Path}}; . {{.EnvVarFile}} && {{.Path}}"
        : "chmod +x {{.Path}}; {{.Vars}} {{.Path}}");
    const folder = o.remote_folder;
    const remotePath =
      o.remote_path || posix.join(folder, o.remote_file || `script_${randomInt(1_000_000_000)}.sh`);
    // where the running script's process group is recorded, so an interrupt can end it
    const pidFile = `${remotePath}.pid`;
    const pauseAfter = duration(TYPE, "pause_after", o.pause_after);
    const expectDisconnect = o.expect_disconnect === true || codes.includes(DISCONNECTED_EXIT_CODE);
    const run = new ShellRun(ctx);
    const scripts = await loadScripts(ctx);
    throwIfAborted(ctx.signal, TYPE);

    let envFile: string | undefined;
    let failed = false;
    try {
      if (useEnvFile) {
        const path = posix.join(folder, `varfile_${randomInt(1_000_000_000)}.sh`);
        envFile = path;
        await run.retrying(`uploading the variables file to ${path}`, () =>
          comm.upload(Buffer.from(flattened), path, { mode: 0o600 }),
        );
      }
      const command = renderCommand(TYPE, executeCommand, {
        Path: shellWord(remotePath),
        Vars: flattened,
        EnvVarFile: envFile ? shellWord(envFile) : "",
      });

      for (const script of scripts) {
        ui.say(`Provisioning with shell script: ${script.label}`);
        let result: ExecResult;
        let uploaded = false;
        // Interrupted: the remote script would go on running without its channel, so its
        // process group is ended at once, over a command of its own.
        let ending: Promise<void> | undefined;
        const endScript = () => {
          if (uploaded && alive(comm)) ending ??= endGroup(comm, pidFile);
          return ending;
        };
        ctx.signal.addEventListener("abort", endScript, { once: true });
        try {
          result = await run.retrying(`starting ${script.label}`, async () => {
            await comm.upload(script.body, remotePath, { mode: 0o755 });
            uploaded = true;
            try {
              return await comm.exec(groupedCommand(command, pidFile), {
                signal: ctx.signal,
                expectDisconnect,
                onStdout: (c) => ui.output("stdout", c),
                onStderr: (c) => ui.output("stderr", c),
              });
            } catch (err) {
              if (CommunicatorError.is(err, "KILN_SSH_DISCONNECTED")) {
                // The script started and the machine went away under it: not a start failure.
                throw new Final(
                  provError(
                    TYPE,
                    CODES.disconnected,
                    `the connection was lost while ${script.label} was running`,
                    {
                      hint: "If the script reboots the machine or restarts sshd, set expect_disconnect: true.",
                      cause: err,
                    },
                  ),
                );
              }
              throw err;
            }
          });
        } catch (err) {
          if (ctx.signal.aborted) await endScript();
          if (uploaded) await run.remove(o.skip_clean ? pidFile : [remotePath, pidFile], false);
          throw err;
        } finally {
          ctx.signal.removeEventListener("abort", endScript);
        }

        const dropped = result.disconnected === true || (expectDisconnect && result.exitCode === null);
        if (dropped) {
          ui.say(
            `${script.label} dropped the connection (expect_disconnect); waiting for the machine to come back...`,
          );
          await run.reconnect(
            Math.max(run.retryMs, 1000),
            `after ${script.label} dropped it (start_retry_timeout)`,
          );
          ui.message("Connected again.");
        }
        const code = dropped ? DISCONNECTED_EXIT_CODE : result.exitCode;
        let error: Error | undefined;
        if (!dropped && code === null) {
          error = provError(
            TYPE,
            CODES.exitCode,
            `script ${script.label} was ended by ${result.signal ? `signal ${result.signal}` : "the server without an exit status"}`,
          );
        } else if (!dropped && !codes.includes(code as number)) {
          error = provError(TYPE, CODES.exitCode, `script ${script.label} exited with code ${String(code)}`, {
            hint: `valid_exit_codes is [${codes.join(", ")}]; see the script's output above.`,
          });
        }
        await run.remove(o.skip_clean ? pidFile : [remotePath, pidFile], !error && !o.skip_clean);
        if (error) throw error;
      }
    } catch (err) {
      failed = true;
      throw err;
    } finally {
      if (envFile && !o.skip_clean) await run.remove(envFile, !failed && !ctx.signal.aborted);
    }

    if (pauseAfter > 0) {
      ui.say(`Pausing ${o.pause_after} after the scripts...`);
      await sleep(pauseAfter, ctx.signal, TYPE);
    }
  },
};
