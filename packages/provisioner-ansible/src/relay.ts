/**
 * kiln's local SSH endpoint for ansible (Packer's "proxy adapter"): an SSH server on 127.0.0.1
 * (ssh2's server side) that takes only the run's key, and runs each command ansible sends —
 * and the SFTP subsystem, as sftp_command — over kiln's own communicator, relaying standard
 * input, output and error as bytes and the exit status back. So ansible reaches the machine
 * however kiln does (a forwarded port, a bastion, a cloud's private address).
 *
 * Written here on ssh2 because no library relays an SSH server's sessions to another transport;
 * ssh2 does the protocol, this file only wires sessions to Communicator.exec.
 */
import type { Server as NetServer, Socket } from "node:net";
import type { Communicator, Ui } from "@kiln/core";
import { messageOf } from "@kiln/core";
import { endGroup, groupedCommand, publicKeyBlob } from "@kiln/sdk";
import ssh2 from "ssh2";

export interface RelayOptions {
  comm: Communicator;
  /** The only user name accepted. */
  user: string;
  /** The only client key accepted (an OpenSSH public key line). */
  authorizedKey: string;
  /** The endpoint's host key (OpenSSH private key). */
  hostKey: string;
  /** The first port to try (ten from it); 0 or undefined: one the system picks. */
  localPort?: number | undefined;
  /** What runs on the machine for the SFTP subsystem. */
  sftpCommand: string;
  /**
   * Each relayed command runs in a process group of its own, recorded in `<pidPrefix><n>.pid` on
   * the machine; one that ansible abandons (Ctrl-C) is ended through it (TERM, then KILL), also
   * where the SSH signal does not reach (root logins). The files are the caller's to remove.
   */
  pidPrefix: string;
  ui: Ui;
}

export interface Relay {
  port: number;
  /** Relayed commands still running. */
  readonly active: number;
  /** Stop listening, end every session and every relayed command. */
  close(): Promise<void>;
}

/** The first of `tries` ports from `first` that can be listened on (127.0.0.1). */
async function listen(server: NetServer, first: number, tries: number): Promise<number> {
  let lastError: unknown;
  for (let i = 0; i < tries; i++) {
    const port = first === 0 ? 0 : first + i;
    try {
      await new Promise<void>((resolve, reject) => {
        const onError = (err: Error) => reject(err);
        server.once("error", onError);
        server.listen(port, "127.0.0.1", () => {
          server.removeListener("error", onError);
          resolve();
        });
      });
      const addr = server.address();
      if (addr && typeof addr === "object") return addr.port;
    } catch (err) {
      lastError = err;
    }
  }
  throw new Error(
    `no free port for the local SSH endpoint${first ? ` in ${first}-${first + tries - 1}` : ""}: ${messageOf(lastError)}`,
  );
}

export async function startRelay(o: RelayOptions): Promise<Relay> {
  const wanted = publicKeyBlob(o.authorizedKey);
  const parsed = ssh2.utils.parseKey(o.authorizedKey);
  const clientKey = parsed instanceof Error ? undefined : Array.isArray(parsed) ? parsed[0] : parsed;
  if (!clientKey)
    throw new Error(
      `the run's client key cannot be read${parsed instanceof Error ? `: ${parsed.message}` : ""} (${o.authorizedKey.split(" ")[0]})`,
    );
  const stop = new AbortController();
  const sockets = new Set<Socket>();
  const endings = new Set<Promise<void>>();
  let active = 0;
  let count = 0;

  /** Run `command` on the machine with the channel as its standard streams; then its exit status. */
  const run = (command: string, channel: ssh2.ServerChannel) => {
    active++;
    const pidFile = `${o.pidPrefix}${++count}.pid`;
    const ended = new AbortController();
    let finished = false;
    const onStop = () => {
      ended.abort();
      if (finished) return;
      const ending = endGroup(o.comm, pidFile);
      endings.add(ending);
      void ending.finally(() => endings.delete(ending));
    };
    stop.signal.addEventListener("abort", onStop, { once: true });
    // ansible went away (killed, or done with a control connection) before the command ended
    channel.once("close", onStop);
    o.comm
      .exec(groupedCommand(command, pidFile), {
        stdin: channel,
        stdout: channel,
        stderr: channel.stderr,
        signal: ended.signal,
      })
      .then(
        (r) => {
          if (r.exitCode !== null) channel.exit(r.exitCode);
          else channel.exit((r.signal ?? "SIGKILL").replace(/^SIG/, ""), false, "");
        },
        (err: unknown) => {
          if (!ended.signal.aborted) o.ui.error(`[ansible] a relayed command failed: ${messageOf(err)}`);
          try {
            channel.stderr.write(`kiln: ${messageOf(err)}\n`);
            channel.exit(255);
          } catch {
            /* the channel is gone */
          }
        },
      )
      .finally(() => {
        finished = true;
        active--;
        stop.signal.removeEventListener("abort", onStop);
        channel.removeListener("close", onStop);
        try {
          channel.end();
        } catch {
          /* already closed */
        }
      });
  };

  const server = new ssh2.Server({ hostKeys: [o.hostKey] }, (client) => {
    // ssh2 keeps the connection's socket as _sock; closing the endpoint destroys it
    const sock = (client as unknown as { _sock?: Socket })._sock;
    if (sock) {
      sockets.add(sock);
      sock.once("close", () => sockets.delete(sock));
    }
    client.on("error", () => {
      /* a client that went away; its commands end with their channels */
    });
    client.on("authentication", (ctx) => {
      if (ctx.method !== "publickey" || ctx.username !== o.user || !ctx.key.data.equals(wanted)) {
        ctx.reject(["publickey"]);
        return;
      }
      // without a signature the client only asks whether the key would do
      if (!ctx.signature || !ctx.blob) return ctx.accept();
      if (clientKey.verify(ctx.blob, ctx.signature, ctx.hashAlgo) === true) ctx.accept();
      else ctx.reject(["publickey"]);
    });
    client.on("ready", () => {
      client.on("session", (accept) => {
        const session = accept();
        // ssh asks for a terminal with -tt (sudo with requiretty): accepted, as Packer does; none is made
        session.on("pty", (ok) => ok?.());
        session.on("env", (ok) => ok?.());
        session.on("exec", (ok, _no, info) => run(info.command, ok()));
        session.on("subsystem", (ok, no, info) => {
          if (info.name === "sftp") run(o.sftpCommand, ok());
          else no?.();
        });
        session.on("shell", (_ok, no) => no?.());
      });
    });
  });
  const port = await listen(server, o.localPort ?? 0, o.localPort ? 10 : 1);
  let closing: Promise<void> | undefined;
  return {
    port,
    get active() {
      return active;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        stop.abort();
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }).then(async () => {
        // the commands ansible left running on the machine are ended before the run goes on
        while (endings.size > 0) await Promise.all([...endings]);
      });
      return closing;
    },
  };
}
