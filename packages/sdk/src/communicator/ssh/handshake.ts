/** One SSH handshake (to the machine or the bastion) and how an attempt failed. */
import type { AuthHandlerMiddleware, Client, ConnectConfig } from "ssh2";
import ssh2 from "ssh2";
import { CommunicatorError } from "../errors.js";
import { type HostKeyPins, hostKeyAllowed } from "../hostkeys.js";
import { publicKeyFingerprint } from "../keys.js";
import type { AuthPlan } from "./auth.js";
import { describeError } from "./errors.js";
import type { SSHLink } from "./link.js";

export interface AttemptState {
  tried: string[];
  serverMethods: string[] | undefined;
  hostKeyRejected: boolean;
  hostKeyFingerprint: string | undefined;
}

export class AttemptError extends Error {
  constructor(
    readonly kind: "transient" | "auth" | "fatal" | "abort",
    message: string,
    readonly state: AttemptState | undefined,
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause });
  }
}

export function handshake(
  link: SSHLink,
  where: {
    host: string;
    port: number;
    username: string;
    sock?: NodeJS.ReadableStream | undefined;
    /** Forward this agent socket to the machine. */
    agent?: string;
  },
  plan: AuthPlan,
  pins: HostKeyPins | undefined,
  remaining: number,
  signal: AbortSignal | undefined,
  label: string,
): Promise<Client> {
  const state: AttemptState = {
    tried: [],
    serverMethods: undefined,
    hostKeyRejected: false,
    hostKeyFingerprint: undefined,
  };
  const client = new ssh2.Client();
  let index = 0;
  const authHandler: AuthHandlerMiddleware = (methodsLeft, _partial, next) => {
    if (Array.isArray(methodsLeft)) state.serverMethods = methodsLeft;
    while (index < plan.methods.length) {
      const i = index++;
      const m = plan.methods[i];
      const name = plan.names[i];
      if (!m || !name) continue;
      const wire = m.type === "agent" ? "publickey" : m.type;
      if (Array.isArray(methodsLeft) && !methodsLeft.includes(wire)) continue;
      state.tried.push(name);
      next(m);
      return;
    }
    (next as unknown as (v: false) => void)(false);
  };
  const cfg: ConnectConfig = {
    host: where.host,
    port: where.port,
    username: where.username,
    readyTimeout: Math.max(1000, Math.min(remaining, 30_000)),
    keepaliveInterval: Math.max(link.keepAliveMs, 0),
    keepaliveCountMax: 3,
    authHandler,
    hostVerifier: (key: Buffer) => {
      state.hostKeyFingerprint = publicKeyFingerprint(key);
      if (!pins) return true;
      const ok = hostKeyAllowed(pins, key);
      if (!ok) state.hostKeyRejected = true;
      return ok;
    },
  };
  if (where.sock) cfg.sock = where.sock as NonNullable<ConnectConfig["sock"]>;
  const algorithms: NonNullable<ConnectConfig["algorithms"]> = {};
  if (link.config.ssh_ciphers?.length) algorithms.cipher = link.config.ssh_ciphers as never;
  if (link.config.ssh_key_exchange_algorithms?.length)
    algorithms.kex = link.config.ssh_key_exchange_algorithms as never;
  if (Object.keys(algorithms).length > 0) cfg.algorithms = algorithms;
  if (where.agent) {
    cfg.agent = where.agent;
    cfg.agentForward = true;
  }
  if (link.readWriteTimeoutMs > 0) cfg.timeout = link.readWriteTimeoutMs;

  return new Promise<Client>((resolve, reject) => {
    let settled = false;
    const finish = (err: AttemptError | undefined): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener("abort", onAbort);
      if (err) {
        client.removeAllListeners();
        client.on("error", () => {});
        client.destroy();
        const s = where.sock as (NodeJS.ReadableStream & { destroy?: () => void }) | undefined;
        s?.destroy?.();
        reject(err);
      } else {
        client.removeAllListeners("ready");
        resolve(client);
      }
    };
    const onAbort = (): void => finish(new AttemptError("abort", "cancelled", state));
    if (signal?.aborted) return onAbort();
    signal?.addEventListener("abort", onAbort, { once: true });
    client.once("ready", () => {
      client.removeListener("error", onError);
      client.removeListener("close", onClose);
      if (label === link.target) link.hostKeyFingerprint = state.hostKeyFingerprint;
      finish(undefined);
    });
    const onError = (err: Error & { level?: string; code?: string }): void => {
      if (state.hostKeyRejected) {
        const sources = pins?.sources.join(" and ") ?? "the configured host keys";
        const e = new CommunicatorError(
          "KILN_SSH_HOST_KEY_MISMATCH",
          `the host key of ${label} (${state.hostKeyFingerprint ?? "unknown"}) is not one accepted by ${sources}`,
          {
            hint: "if the machine was rebuilt, update ssh_host_key / ssh_known_hosts_file; otherwise this may be a different machine",
          },
        );
        finish(new AttemptError("fatal", e.message, state, e));
        return;
      }
      if (err.level === "client-authentication") {
        finish(
          new AttemptError(
            "auth",
            `authentication failed (tried: ${state.tried.join(", ") || "nothing the server accepts"})`,
            state,
            err,
          ),
        );
        return;
      }
      // Refused, reset, unreachable, handshake timeouts, a server still starting: try again until ssh_timeout.
      finish(new AttemptError("transient", `${label}: ${describeError(err)}`, state, err));
    };
    const onClose = (): void =>
      finish(new AttemptError("transient", `${label}: connection closed during the handshake`, state));
    client.on("error", onError);
    client.on("close", onClose);
    try {
      client.connect(cfg);
    } catch (err) {
      finish(new AttemptError("fatal", describeError(err), state, err));
    }
  });
}
