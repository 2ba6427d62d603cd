/** Connecting: the retry loop until ssh_timeout, host key pins, the bastion hop, adopting the connection. */

import { readFile } from "node:fs/promises";
import { abortableSleep } from "@kiln/core";
import type { Client } from "ssh2";
import { CommunicatorError } from "../errors.js";
import { type HostKeyPins, pinsFromHostKeys, pinsFromKnownHosts } from "../hostkeys.js";
import { type AuthPlan, authPlan } from "./auth.js";
import { cancelled, describeError } from "./errors.js";
import { AttemptError, type AttemptState, handshake } from "./handshake.js";
import type { SSHLink } from "./link.js";
import { proxySocket } from "./proxy.js";
import { openTunnels } from "./tunnels.js";

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return abortableSleep(Math.max(0, ms), signal, () => cancelled("waiting for SSH"));
}

/** Connect, trying until ssh_timeout; callers arriving meanwhile share the attempt. */
export async function connect(link: SSHLink, signal?: AbortSignal): Promise<void> {
  if (link.connected) return;
  if (link.connecting) return link.connecting;
  link.connecting = connectLoop(link, signal).finally(() => {
    link.connecting = undefined;
  });
  return link.connecting;
}

async function connectLoop(link: SSHLink, signal?: AbortSignal): Promise<void> {
  const started = Date.now();
  const deadline = started + link.timeoutMs;
  const plan = await authPlan(
    link.config.ssh_username,
    link.config.ssh_password,
    link.config.ssh_private_key_file,
    link.config.ssh_private_key,
    link.config.ssh_agent_auth,
    "ssh_",
  );
  const pins = await hostKeyPins(link, link.host, link.port);
  let delay = link.config.retry?.initialMs ?? 250;
  const maxDelay = link.config.retry?.maxMs ?? 5000;
  let attempt = 0;
  let authFailures = 0;
  let last: AttemptError | undefined;
  try {
    for (;;) {
      if (signal?.aborted) throw cancelled(`connecting to ${link.target}`);
      const remaining = deadline - Date.now();
      if (remaining <= 0) break;
      attempt++;
      try {
        const client = await connectOnce(link, plan, pins, remaining, signal);
        adopt(link, client);
        const local = link.config.ssh_local_tunnels ?? [];
        const remote = link.config.ssh_remote_tunnels ?? [];
        if (local.length + remote.length > 0) {
          try {
            link.tunnels = await openTunnels(client, local, remote, (l) => link.log(l));
          } catch (e) {
            await link.dropClient();
            throw e;
          }
        }
        link.log(
          `connected to ${link.target} as ${link.config.ssh_username}${attempt > 1 ? ` after ${attempt} attempts` : ""}`,
        );
        return;
      } catch (err) {
        if (!(err instanceof AttemptError)) throw err;
        last = err;
        if (err.kind === "abort") throw cancelled(`connecting to ${link.target}`);
        if (err.kind === "fatal") {
          throw err.cause instanceof CommunicatorError
            ? err.cause
            : new CommunicatorError("KILN_SSH_CONFIG", `[ssh] ${err.message}`, { cause: err.cause });
        }
        if (err.kind === "auth") {
          authFailures++;
          if (authFailures >= link.handshakeAttempts) throw authError(link, plan, err.state, authFailures);
        }
        link.log(`waiting for SSH on ${link.target} (attempt ${attempt}): ${err.message}`);
      }
      const wait = Math.min(delay, deadline - Date.now());
      if (wait <= 0) break;
      await sleep(wait, signal);
      delay = Math.min(delay * 2, maxDelay);
    }
  } catch (err) {
    await link.closeBastion();
    throw err;
  }
  await link.closeBastion();
  if (last?.kind === "auth") throw authError(link, plan, last.state, authFailures);
  throw new CommunicatorError(
    "KILN_SSH_TIMEOUT",
    `timed out after ${Math.round((Date.now() - started) / 1000)}s waiting for SSH on ${link.target} (${attempt} attempts)${
      last ? `; last error: ${last.message}` : ""
    }`,
    {
      hint: "check that the machine booted, sshd is running and the port is reachable; raise ssh_timeout if it boots slowly",
      cause: last,
    },
  );
}

function authError(
  link: SSHLink,
  plan: AuthPlan,
  state: AttemptState | undefined,
  failures: number,
): CommunicatorError {
  const server = state?.serverMethods?.length
    ? `; the server accepts: ${state.serverMethods.join(", ")}`
    : "";
  return new CommunicatorError(
    "KILN_SSH_AUTH_FAILED",
    `SSH authentication failed for user "${link.config.ssh_username}" on ${link.target} after ${failures} attempt${
      failures === 1 ? "" : "s"
    } (tried: ${(state?.tried.length ? state.tried : plan.names).join(", ")}${server})`,
    { hint: "check ssh_username and ssh_password, ssh_private_key_file or ssh_agent_auth" },
  );
}

function adopt(link: SSHLink, client: Client): void {
  link.client = client;
  link.hasSha256sum = undefined;
  link.noSftp = false;
  const onGone = (): void => {
    link.dead.add(client);
    if (link.client === client) {
      link.client = undefined;
      link.sftpSession = undefined;
    }
  };
  client.setMaxListeners(0); // one close/end listener per running command
  client.on("error", (err) => link.log(`connection to ${link.target}: ${describeError(err)}`));
  client.on("end", onGone);
  client.on("close", onGone);
  client.on("timeout", () => {
    link.log(`connection to ${link.target} idle for longer than ssh_read_write_timeout; closing it`);
    client.destroy();
  });
}

async function hostKeyPins(link: SSHLink, host: string, port: number): Promise<HostKeyPins | undefined> {
  let pins: HostKeyPins | undefined;
  if (link.config.ssh_host_key !== undefined) pins = pinsFromHostKeys(link.config.ssh_host_key);
  if (link.config.ssh_known_hosts_file) {
    let text: string;
    try {
      text = await readFile(link.config.ssh_known_hosts_file, "utf8");
    } catch (err) {
      throw new CommunicatorError(
        "KILN_SSH_CONFIG",
        `[ssh] cannot read ssh_known_hosts_file ${link.config.ssh_known_hosts_file}`,
        {
          cause: err,
        },
      );
    }
    const fromFile = pinsFromKnownHosts(text, host, port, link.config.ssh_known_hosts_file);
    pins = pins
      ? {
          blobs: [...pins.blobs, ...fromFile.blobs],
          fingerprints: pins.fingerprints,
          sources: [...pins.sources, ...fromFile.sources],
        }
      : fromFile;
  }
  return pins;
}

async function bastionSocket(
  link: SSHLink,
  remaining: number,
  signal?: AbortSignal,
): Promise<NodeJS.ReadableStream | undefined> {
  const host = link.config.ssh_bastion_host;
  if (!host) return undefined;
  if (!link.bastion || link.dead.has(link.bastion)) {
    const port = link.config.ssh_bastion_port ?? 22;
    const username = link.config.ssh_bastion_username ?? link.config.ssh_username;
    const plan = await authPlan(
      username,
      link.config.ssh_bastion_password,
      link.config.ssh_bastion_private_key_file,
      undefined,
      link.config.ssh_bastion_agent_auth,
      "ssh_bastion_",
    );
    let client: Client;
    try {
      client = await handshake(
        link,
        { host, port, username },
        plan,
        undefined,
        remaining,
        signal,
        `bastion ${host}:${port}`,
      );
    } catch (err) {
      if (err instanceof AttemptError && err.kind === "auth") {
        const e = new CommunicatorError(
          "KILN_SSH_AUTH_FAILED",
          `SSH authentication failed for user "${username}" on the bastion host ${host}:${port} (tried: ${(
            err.state?.tried.length ? err.state.tried : plan.names
          ).join(", ")})`,
          {
            hint: "check ssh_bastion_username and ssh_bastion_password, ssh_bastion_private_key_file or ssh_bastion_agent_auth",
          },
        );
        throw new AttemptError("fatal", e.message, err.state, e);
      }
      throw err;
    }
    client.on("error", (err) => link.log(`bastion ${host}:${port}: ${describeError(err)}`));
    const gone = (): void => {
      link.dead.add(client);
    };
    client.on("close", gone);
    client.on("end", gone);
    link.bastion = client;
  }
  const bastion = link.bastion;
  return new Promise((resolve, reject) => {
    bastion.forwardOut("127.0.0.1", 0, link.host, link.port, (err, stream) => {
      if (err)
        reject(
          new AttemptError(
            "transient",
            `bastion could not reach ${link.target}: ${describeError(err)}`,
            undefined,
            err,
          ),
        );
      else resolve(stream);
    });
  });
}

/** One try: through the bastion if there is one, then the handshake with the machine. */
async function connectOnce(
  link: SSHLink,
  plan: AuthPlan,
  pins: HostKeyPins | undefined,
  remaining: number,
  signal?: AbortSignal,
): Promise<Client> {
  let sock: NodeJS.ReadableStream | undefined;
  try {
    sock = await bastionSocket(link, remaining, signal);
    if (!sock && link.config.ssh_proxy_host) {
      const p = link.config;
      sock = await proxySocket(
        {
          host: p.ssh_proxy_host as string,
          port: p.ssh_proxy_port ?? 1080,
          ...(p.ssh_proxy_username ? { username: p.ssh_proxy_username } : {}),
          ...(p.ssh_proxy_password ? { password: p.ssh_proxy_password } : {}),
        },
        link.host,
        link.port,
        Math.min(remaining, 30_000),
      ).catch((e: unknown) => {
        // A proxy that is not up yet, or a machine it cannot reach yet: try again until ssh_timeout.
        throw new AttemptError("transient", (e as Error).message, undefined, e);
      });
    }
  } catch (err) {
    if (err instanceof AttemptError) throw err;
    if (err instanceof CommunicatorError) throw new AttemptError("fatal", err.message, undefined, err);
    throw new AttemptError("transient", describeError(err), undefined, err);
  }
  const agent = link.config.ssh_agent_forwarding ? process.env.SSH_AUTH_SOCK : undefined;
  return handshake(
    link,
    {
      host: link.host,
      port: link.port,
      username: link.config.ssh_username,
      sock,
      ...(agent ? { agent } : {}),
    },
    plan,
    pins,
    remaining,
    signal,
    link.target,
  );
}
