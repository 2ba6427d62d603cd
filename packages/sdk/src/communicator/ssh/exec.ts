/** Running commands: streaming output, environment, timeouts, cancellation and expected disconnects. */
import { StringDecoder } from "node:string_decoder";
import { type LongTimer, setLongTimeout } from "@kiln/core";
import type { Client, ClientChannel } from "ssh2";
import { CommunicatorError } from "../errors.js";
import { shellQuote } from "../sftp.js";
import type { ExecOptions, ExecResult } from "../types.js";
import { cancelled, describeError } from "./errors.js";
import type { SSHLink } from "./link.js";

/**
 * Ask the server to KILL the command, then close the channel. OpenSSH (≥ 7.9) honours "signal" requests
 * for privilege-separated sessions, i.e. not for root logins; there closing the channel is all we can do.
 * ssh2's `channel.signal()` refuses once stdin is closed, which ours always is, so after that it
 * goes to the protocol layer directly.
 */
function stopChannel(ch: ClientChannel): void {
  try {
    if (ch.writable) ch.signal("KILL");
    else {
      const inner = ch as unknown as {
        outgoing?: { id?: number; state?: string };
        _client?: { _protocol?: { signal?: (id: number, name: string) => void } };
      };
      const id = inner.outgoing?.id;
      const proto = inner._client?._protocol;
      if (
        typeof id === "number" &&
        (inner.outgoing?.state === "open" || inner.outgoing?.state === "eof") &&
        typeof proto?.signal === "function"
      )
        proto.signal(id, "KILL");
    }
  } catch {
    /* the server may not support signals */
  }
  try {
    ch.close();
  } catch {
    /* already closed */
  }
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Write `input` to the channel as it comes, pausing it while the channel is full; its end is end-of-file. */
function feed(input: NodeJS.ReadableStream, ch: ClientChannel): void {
  const onData = (d: Buffer | string) => {
    if (!ch.writable) return;
    if (!ch.write(d)) {
      input.pause();
      ch.once("drain", () => input.resume());
    }
  };
  const onEnd = () => {
    detach();
    if (ch.writable) ch.end();
  };
  const detach = () => {
    input.removeListener("data", onData);
    input.removeListener("end", onEnd);
    input.removeListener("error", onEnd);
  };
  input.on("data", onData);
  input.once("end", onEnd);
  input.once("error", onEnd);
  ch.once("close", detach);
  input.resume();
}

/** Copy raw bytes from the channel to `out`, pausing the channel (and so the remote side) while `out` is full. */
function relay(from: NodeJS.ReadableStream, out: NodeJS.WritableStream): void {
  from.on("data", (d: Buffer) => {
    if (!out.write(d)) {
      from.pause();
      out.once("drain", () => from.resume());
    }
  });
}

export function exec(link: SSHLink, command: string, opts: ExecOptions = {}): Promise<ExecResult> {
  let client: Client;
  try {
    client = link.requireClient("run a command");
  } catch (err) {
    return Promise.reject(err);
  }
  let full = command;
  if (opts.env && Object.keys(opts.env).length > 0) {
    const parts: string[] = [];
    for (const [k, v] of Object.entries(opts.env)) {
      if (!ENV_NAME.test(k)) {
        return Promise.reject(
          new CommunicatorError(
            "KILN_SSH_CONFIG",
            `environment variable name "${k}" is not a valid shell identifier`,
          ),
        );
      }
      parts.push(`${k}=${shellQuote(v)}`);
    }
    full = `export ${parts.join(" ")}; ${command}`;
  }
  const signal = opts.signal;
  if (signal?.aborted) return Promise.reject(cancelled("the command"));

  return new Promise<ExecResult>((resolve, reject) => {
    let channel: ClientChannel | undefined;
    let settled = false;
    let timer: LongTimer | undefined;
    const outDec = new StringDecoder("utf8");
    const errDec = new StringDecoder("utf8");
    const cleanup = (): void => {
      timer?.clear();
      signal?.removeEventListener("abort", onAbort);
      client.removeListener("close", onClientGone);
      client.removeListener("end", onClientGone);
    };
    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      cleanup();
      if (channel) stopChannel(channel);
      reject(err);
    };
    const succeed = (r: ExecResult): void => {
      if (settled) return;
      settled = true;
      cleanup();
      const o = outDec.end();
      if (o) opts.onStdout?.(o);
      const e = errDec.end();
      if (e) opts.onStderr?.(e);
      resolve(r);
    };
    const lost = (): void => {
      if (opts.expectDisconnect) {
        link.log(`connection to ${link.target} closed while running a command, as expected`);
        succeed({ exitCode: null, disconnected: true });
      } else {
        fail(
          new CommunicatorError(
            "KILN_SSH_DISCONNECTED",
            `the connection to ${link.target} was lost while running a command`,
            {
              hint: "if the command reboots the machine or restarts sshd, set expect_disconnect",
            },
          ),
        );
      }
    };
    const onClientGone = (): void => {
      if (exit === undefined) lost();
    };
    const onAbort = (): void => fail(cancelled("the command"));
    let exit: ExecResult | undefined;
    signal?.addEventListener("abort", onAbort, { once: true });
    client.once("close", onClientGone);
    client.once("end", onClientGone);
    if (opts.timeoutMs !== undefined && opts.timeoutMs > 0) {
      const ms = opts.timeoutMs;
      timer = setLongTimeout(() => {
        fail(
          new CommunicatorError(
            "KILN_SSH_EXEC_TIMEOUT",
            `the command did not finish within ${ms} ms on ${link.target}; it was stopped`,
          ),
        );
      }, ms);
    }
    try {
      // ssh_pty: a pseudo-terminal for commands that want one (sudo with requiretty).
      client.exec(full, link.config.ssh_pty ? { pty: true } : {}, (err, ch) => {
        if (err) {
          if (link.dead.has(client)) return lost();
          return fail(
            new CommunicatorError(
              "KILN_SSH_EXEC_FAILED",
              `could not start a command on ${link.target}: ${describeError(err)}`,
              { cause: err },
            ),
          );
        }
        channel = ch;
        if (settled) {
          stopChannel(ch);
          return;
        }
        if (opts.stdin) feed(opts.stdin, ch);
        else ch.end(); // no stdin: the command sees end-of-file
        if (opts.stdout) relay(ch, opts.stdout);
        else
          ch.on("data", (d: Buffer) => {
            const s = outDec.write(d);
            if (s) opts.onStdout?.(s);
          });
        if (opts.stderr) relay(ch.stderr, opts.stderr);
        else
          ch.stderr.on("data", (d: Buffer) => {
            const s = errDec.write(d);
            if (s) opts.onStderr?.(s);
          });
        ch.on("exit", (code: number | null, sig?: string) => {
          exit =
            code === null || code === undefined
              ? { exitCode: null, ...(sig ? { signal: sig } : {}) }
              : { exitCode: code };
        });
        ch.on("close", () => {
          if (exit) return succeed(exit);
          // No exit status: find out whether the connection went away (ssh2 reports that first).
          setImmediate(() => {
            if (link.dead.has(client)) lost();
            else if (opts.expectDisconnect) {
              // a rebooting server may close the channel just before the connection
              setTimeout(() => (link.dead.has(client) ? lost() : succeed({ exitCode: null })), 1000);
            } else succeed({ exitCode: null });
          });
        });
      });
    } catch (err) {
      if (link.dead.has(client)) lost();
      else
        fail(
          new CommunicatorError(
            "KILN_SSH_EXEC_FAILED",
            `could not start a command on ${link.target}: ${describeError(err)}`,
            { cause: err },
          ),
        );
    }
  });
}

/** Run a command and collect its output (up to `limit` characters of each stream). */
export async function run(
  link: SSHLink,
  command: string,
  opts: Omit<ExecOptions, "onStdout" | "onStderr"> & { limit?: number } = {},
): Promise<ExecResult & { stdout: string; stderr: string }> {
  const limit = opts.limit ?? 1024 * 1024;
  let stdout = "";
  let stderr = "";
  const r = await exec(link, command, {
    ...opts,
    onStdout: (c) => {
      if (stdout.length < limit) stdout += c.slice(0, limit - stdout.length);
    },
    onStderr: (c) => {
      if (stderr.length < limit) stderr += c.slice(0, limit - stderr.length);
    },
  });
  return { ...r, stdout, stderr };
}
