import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import {
  chmod,
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  rename,
  rm,
  stat,
  symlink,
} from "node:fs/promises";
import { join, posix } from "node:path";
import { StringDecoder } from "node:string_decoder";
import { abortableSleep } from "@kiln/core";
import type {
  AnyAuthMethod,
  AuthHandlerMiddleware,
  Client,
  ClientChannel,
  ConnectConfig,
  SFTPWrapper,
} from "ssh2";
import ssh2 from "ssh2";
import { durationOr } from "./duration.js";
import { CommunicatorError } from "./errors.js";
import { type HostKeyPins, hostKeyAllowed, pinsFromHostKeys, pinsFromKnownHosts } from "./hostkeys.js";
import { publicKeyFingerprint } from "./keys.js";
import {
  bufferChunks,
  readChunks,
  S_IFDIR,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  sftpChmod,
  sftpClose,
  sftpFchmod,
  sftpFstat,
  sftpMkdir,
  sftpOpen,
  sftpReaddir,
  sftpReadlink,
  sftpStat,
  sftpSymlink,
  sftpUnlink,
  shellQuote,
  writeChunks,
  writeLocal,
} from "./sftp.js";
import type { Communicator, ExecOptions, ExecResult, TransferOptions, UploadOptions } from "./types.js";

/** Options of the SSH communicator; the names are Packer's. Durations take milliseconds or strings like "5m". */
export interface SSHConfig {
  ssh_host: string;
  /** Default 22. */
  ssh_port?: number;
  ssh_username: string;
  ssh_password?: string;
  ssh_private_key_file?: string;
  /** A private key held in memory (OpenSSH or PEM), e.g. a temporary key pair. */
  ssh_private_key?: string | Buffer;
  /** Authenticate with the agent at SSH_AUTH_SOCK. */
  ssh_agent_auth?: boolean;
  /** Forward the agent at SSH_AUTH_SOCK to the machine (OpenSSH agent forwarding). */
  ssh_agent_forwarding?: boolean;
  /** How long connect()/reconnect() keep trying. Default "5m". */
  ssh_timeout?: string | number;
  /** Failed handshakes (e.g. authentication) tolerated before giving up. Default 10. */
  ssh_handshake_attempts?: number;
  /** SSH keep-alive interval. Default "5s"; 0 or negative disables it. */
  ssh_keep_alive_interval?: string | number;
  /** Close the connection when the socket is idle this long. Default: disabled. */
  ssh_read_write_timeout?: string | number;
  /** Accept only these host keys: OpenSSH public key lines or "SHA256:…" fingerprints. Default: accept any. */
  ssh_host_key?: string | string[];
  /** Accept only host keys listed for this host in an OpenSSH known_hosts file. */
  ssh_known_hosts_file?: string;
  ssh_bastion_host?: string;
  /** Default 22. */
  ssh_bastion_port?: number;
  /** Default: ssh_username. */
  ssh_bastion_username?: string;
  ssh_bastion_password?: string;
  ssh_bastion_private_key_file?: string;
  ssh_bastion_agent_auth?: boolean;
  /** Receives progress lines ("waiting for SSH…"). Never given secrets. */
  log?: (line: string) => void;
  /** Back-off between connection attempts: starts at `initialMs` (default 250) and doubles up to `maxMs` (default 5000). */
  retry?: { initialMs?: number; maxMs?: number };
}

interface AuthPlan {
  methods: AnyAuthMethod[];
  /** Human names of the methods, for error messages (never the secrets). */
  names: string[];
}

interface AttemptState {
  tried: string[];
  serverMethods: string[] | undefined;
  hostKeyRejected: boolean;
  hostKeyFingerprint: string | undefined;
}

class AttemptError extends Error {
  constructor(
    readonly kind: "transient" | "auth" | "fatal" | "abort",
    message: string,
    readonly state: AttemptState | undefined,
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause });
  }
}

function cancelled(what: string): CommunicatorError {
  return new CommunicatorError("KILN_SSH_ABORTED", `${what} was cancelled`);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return abortableSleep(Math.max(0, ms), signal, () => cancelled("waiting for SSH"));
}

function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
  }
  return String(err);
}

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

/** An SSH communicator built on ssh2: exec, SFTP transfers with integrity checks, bastion hosts, reconnects. */
export class SSHCommunicator implements Communicator {
  readonly host: string;
  readonly port: number;
  private readonly config: SSHConfig;
  private readonly timeoutMs: number;
  private readonly handshakeAttempts: number;
  private readonly keepAliveMs: number;
  private readonly readWriteTimeoutMs: number;
  private client: Client | undefined;
  private bastion: Client | undefined;
  private sftpSession: Promise<SFTPWrapper> | undefined;
  private connecting: Promise<void> | undefined;
  private hasSha256sum: boolean | undefined;
  /** The server refused the SFTP subsystem on this connection: single files go through `cat` instead. */
  private noSftp = false;
  private readonly dead = new WeakSet<Client>();
  /** The SHA256 fingerprint of the server's host key, once connected. */
  hostKeyFingerprint: string | undefined;

  constructor(config: SSHConfig) {
    const prefix = "[ssh]";
    if (!config.ssh_host) throw new CommunicatorError("KILN_SSH_CONFIG", `${prefix} ssh_host is required`);
    if (!config.ssh_username)
      throw new CommunicatorError("KILN_SSH_CONFIG", `${prefix} ssh_username is required`);
    this.config = config;
    this.host = config.ssh_host;
    this.port = config.ssh_port ?? 22;
    try {
      this.timeoutMs = durationOr(config.ssh_timeout, 5 * 60_000);
      this.keepAliveMs = durationOr(config.ssh_keep_alive_interval, 5000);
      this.readWriteTimeoutMs = durationOr(config.ssh_read_write_timeout, 0);
    } catch (err) {
      throw new CommunicatorError("KILN_SSH_CONFIG", `${prefix} ${describeError(err)}`, { cause: err });
    }
    this.handshakeAttempts = config.ssh_handshake_attempts ?? 10;
    if (!Number.isInteger(this.handshakeAttempts) || this.handshakeAttempts < 1) {
      throw new CommunicatorError(
        "KILN_SSH_CONFIG",
        `${prefix} ssh_handshake_attempts must be a positive integer`,
      );
    }
    if (!Number.isInteger(this.port) || this.port < 1 || this.port > 65535) {
      throw new CommunicatorError("KILN_SSH_CONFIG", `${prefix} ssh_port must be between 1 and 65535`);
    }
    if (config.ssh_private_key_file && config.ssh_private_key !== undefined) {
      throw new CommunicatorError(
        "KILN_SSH_CONFIG",
        `${prefix} give either ssh_private_key_file or ssh_private_key, not both`,
      );
    }
  }

  private log(line: string): void {
    this.config.log?.(line);
  }

  private get target(): string {
    return `${this.host}:${this.port}`;
  }

  /** True while a connection is established. */
  get connected(): boolean {
    return this.client !== undefined && !this.dead.has(this.client);
  }

  // ---------------------------------------------------------------- connecting

  async connect(signal?: AbortSignal): Promise<void> {
    if (this.connected) return;
    if (this.connecting) return this.connecting;
    this.connecting = this.connectLoop(signal).finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  /** Drop the current connection (if any) and connect again, waiting up to ssh_timeout for SSH to come back. */
  async reconnect(signal?: AbortSignal): Promise<void> {
    await this.dropClient();
    await this.connect(signal);
  }

  private async loadKey(
    file: string | undefined,
    inline: string | Buffer | undefined,
    option: string,
  ): Promise<Buffer | undefined> {
    let data: Buffer;
    if (file) {
      try {
        data = await readFile(file);
      } catch (err) {
        throw new CommunicatorError(
          "KILN_SSH_CONFIG",
          `[ssh] cannot read ${option} ${file}: ${(err as NodeJS.ErrnoException).code ?? "error"}`,
          {
            cause: err,
          },
        );
      }
    } else if (inline !== undefined) {
      data = Buffer.isBuffer(inline) ? inline : Buffer.from(inline);
    } else {
      return undefined;
    }
    const parsed = ssh2.utils.parseKey(data);
    const where = file ? `${option} ${file}` : option;
    if (parsed instanceof Error) {
      // ssh2's parse errors describe the format, never the key material
      throw new CommunicatorError(
        "KILN_SSH_KEY",
        `[ssh] ${where} is not a usable private key: ${parsed.message}`,
        {
          hint: "use an unencrypted OpenSSH or PEM private key",
        },
      );
    }
    const first = Array.isArray(parsed) ? parsed[0] : parsed;
    if (!first?.isPrivateKey()) {
      throw new CommunicatorError("KILN_SSH_KEY", `[ssh] ${where} holds a public key, not a private key`);
    }
    return data;
  }

  private async authPlan(
    username: string,
    password: string | undefined,
    keyFile: string | undefined,
    inlineKey: string | Buffer | undefined,
    agent: boolean | undefined,
    prefix: string,
  ): Promise<AuthPlan> {
    const methods: AnyAuthMethod[] = [];
    const names: string[] = [];
    const key = await this.loadKey(keyFile, inlineKey, `${prefix}private_key_file`);
    if (key) {
      methods.push({ type: "publickey", username, key });
      names.push(keyFile ? `publickey (${keyFile})` : "publickey (in-memory key)");
    }
    if (agent) {
      const sock = process.env.SSH_AUTH_SOCK;
      if (!sock) {
        throw new CommunicatorError(
          "KILN_SSH_CONFIG",
          `[ssh] ${prefix}agent_auth is set but SSH_AUTH_SOCK is not: start an ssh-agent first`,
        );
      }
      methods.push({ type: "agent", username, agent: sock });
      names.push("agent (SSH_AUTH_SOCK)");
    }
    if (password !== undefined) {
      methods.push({ type: "password", username, password });
      names.push("password");
      methods.push({
        type: "keyboard-interactive",
        username,
        prompt: (_name, _instructions, _lang, prompts, finish) => finish(prompts.map(() => password)),
      });
      names.push("keyboard-interactive");
    }
    if (methods.length === 0) {
      throw new CommunicatorError(
        "KILN_SSH_CONFIG",
        `[ssh] no authentication method for ${prefix}username "${username}": set ${prefix}password, ${prefix}private_key_file or ${prefix}agent_auth`,
      );
    }
    return { methods, names };
  }

  private async hostKeyPins(host: string, port: number): Promise<HostKeyPins | undefined> {
    let pins: HostKeyPins | undefined;
    if (this.config.ssh_host_key !== undefined) pins = pinsFromHostKeys(this.config.ssh_host_key);
    if (this.config.ssh_known_hosts_file) {
      let text: string;
      try {
        text = await readFile(this.config.ssh_known_hosts_file, "utf8");
      } catch (err) {
        throw new CommunicatorError(
          "KILN_SSH_CONFIG",
          `[ssh] cannot read ssh_known_hosts_file ${this.config.ssh_known_hosts_file}`,
          {
            cause: err,
          },
        );
      }
      const fromFile = pinsFromKnownHosts(text, host, port, this.config.ssh_known_hosts_file);
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

  private async connectLoop(signal?: AbortSignal): Promise<void> {
    const started = Date.now();
    const deadline = started + this.timeoutMs;
    const plan = await this.authPlan(
      this.config.ssh_username,
      this.config.ssh_password,
      this.config.ssh_private_key_file,
      this.config.ssh_private_key,
      this.config.ssh_agent_auth,
      "ssh_",
    );
    const pins = await this.hostKeyPins(this.host, this.port);
    let delay = this.config.retry?.initialMs ?? 250;
    const maxDelay = this.config.retry?.maxMs ?? 5000;
    let attempt = 0;
    let authFailures = 0;
    let last: AttemptError | undefined;
    try {
      for (;;) {
        if (signal?.aborted) throw cancelled(`connecting to ${this.target}`);
        const remaining = deadline - Date.now();
        if (remaining <= 0) break;
        attempt++;
        try {
          const client = await this.attempt(plan, pins, remaining, signal);
          this.adopt(client);
          this.log(
            `connected to ${this.target} as ${this.config.ssh_username}${attempt > 1 ? ` after ${attempt} attempts` : ""}`,
          );
          return;
        } catch (err) {
          if (!(err instanceof AttemptError)) throw err;
          last = err;
          if (err.kind === "abort") throw cancelled(`connecting to ${this.target}`);
          if (err.kind === "fatal") {
            throw err.cause instanceof CommunicatorError
              ? err.cause
              : new CommunicatorError("KILN_SSH_CONFIG", `[ssh] ${err.message}`, { cause: err.cause });
          }
          if (err.kind === "auth") {
            authFailures++;
            if (authFailures >= this.handshakeAttempts) throw this.authError(plan, err.state, authFailures);
          }
          this.log(`waiting for SSH on ${this.target} (attempt ${attempt}): ${err.message}`);
        }
        const wait = Math.min(delay, deadline - Date.now());
        if (wait <= 0) break;
        await sleep(wait, signal);
        delay = Math.min(delay * 2, maxDelay);
      }
    } catch (err) {
      await this.closeBastion();
      throw err;
    }
    await this.closeBastion();
    if (last?.kind === "auth") throw this.authError(plan, last.state, authFailures);
    throw new CommunicatorError(
      "KILN_SSH_TIMEOUT",
      `timed out after ${Math.round((Date.now() - started) / 1000)}s waiting for SSH on ${this.target} (${attempt} attempts)${
        last ? `; last error: ${last.message}` : ""
      }`,
      {
        hint: "check that the machine booted, sshd is running and the port is reachable; raise ssh_timeout if it boots slowly",
        cause: last,
      },
    );
  }

  private authError(plan: AuthPlan, state: AttemptState | undefined, failures: number): CommunicatorError {
    const server = state?.serverMethods?.length
      ? `; the server accepts: ${state.serverMethods.join(", ")}`
      : "";
    return new CommunicatorError(
      "KILN_SSH_AUTH_FAILED",
      `SSH authentication failed for user "${this.config.ssh_username}" on ${this.target} after ${failures} attempt${
        failures === 1 ? "" : "s"
      } (tried: ${(state?.tried.length ? state.tried : plan.names).join(", ")}${server})`,
      { hint: "check ssh_username and ssh_password, ssh_private_key_file or ssh_agent_auth" },
    );
  }

  private adopt(client: Client): void {
    this.client = client;
    this.hasSha256sum = undefined;
    this.noSftp = false;
    const onGone = (): void => {
      this.dead.add(client);
      if (this.client === client) {
        this.client = undefined;
        this.sftpSession = undefined;
      }
    };
    client.setMaxListeners(0); // one close/end listener per running command
    client.on("error", (err) => this.log(`connection to ${this.target}: ${describeError(err)}`));
    client.on("end", onGone);
    client.on("close", onGone);
    client.on("timeout", () => {
      this.log(`connection to ${this.target} idle for longer than ssh_read_write_timeout; closing it`);
      client.destroy();
    });
  }

  private async bastionSocket(
    remaining: number,
    signal?: AbortSignal,
  ): Promise<NodeJS.ReadableStream | undefined> {
    const host = this.config.ssh_bastion_host;
    if (!host) return undefined;
    if (!this.bastion || this.dead.has(this.bastion)) {
      const port = this.config.ssh_bastion_port ?? 22;
      const username = this.config.ssh_bastion_username ?? this.config.ssh_username;
      const plan = await this.authPlan(
        username,
        this.config.ssh_bastion_password,
        this.config.ssh_bastion_private_key_file,
        undefined,
        this.config.ssh_bastion_agent_auth,
        "ssh_bastion_",
      );
      let client: Client;
      try {
        client = await this.handshake(
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
      client.on("error", (err) => this.log(`bastion ${host}:${port}: ${describeError(err)}`));
      const gone = (): void => {
        this.dead.add(client);
      };
      client.on("close", gone);
      client.on("end", gone);
      this.bastion = client;
    }
    const bastion = this.bastion;
    return new Promise((resolve, reject) => {
      bastion.forwardOut("127.0.0.1", 0, this.host, this.port, (err, stream) => {
        if (err)
          reject(
            new AttemptError(
              "transient",
              `bastion could not reach ${this.target}: ${describeError(err)}`,
              undefined,
              err,
            ),
          );
        else resolve(stream);
      });
    });
  }

  private async attempt(
    plan: AuthPlan,
    pins: HostKeyPins | undefined,
    remaining: number,
    signal?: AbortSignal,
  ): Promise<Client> {
    let sock: NodeJS.ReadableStream | undefined;
    try {
      sock = await this.bastionSocket(remaining, signal);
    } catch (err) {
      if (err instanceof AttemptError) throw err;
      if (err instanceof CommunicatorError) throw new AttemptError("fatal", err.message, undefined, err);
      throw new AttemptError("transient", describeError(err), undefined, err);
    }
    const agent = this.config.ssh_agent_forwarding ? process.env.SSH_AUTH_SOCK : undefined;
    return this.handshake(
      {
        host: this.host,
        port: this.port,
        username: this.config.ssh_username,
        sock,
        ...(agent ? { agent } : {}),
      },
      plan,
      pins,
      remaining,
      signal,
      this.target,
    );
  }

  private handshake(
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
      keepaliveInterval: Math.max(this.keepAliveMs, 0),
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
    if (where.agent) {
      cfg.agent = where.agent;
      cfg.agentForward = true;
    }
    if (this.readWriteTimeoutMs > 0) cfg.timeout = this.readWriteTimeoutMs;

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
        if (label === this.target) this.hostKeyFingerprint = state.hostKeyFingerprint;
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

  private requireClient(what: string): Client {
    const c = this.client;
    if (!c || this.dead.has(c)) {
      throw new CommunicatorError(
        "KILN_SSH_NOT_CONNECTED",
        `cannot ${what}: not connected to ${this.target} (call connect() first)`,
      );
    }
    return c;
  }

  // ---------------------------------------------------------------- exec

  exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    let client: Client;
    try {
      client = this.requireClient("run a command");
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
      let timer: NodeJS.Timeout | undefined;
      const outDec = new StringDecoder("utf8");
      const errDec = new StringDecoder("utf8");
      const cleanup = (): void => {
        if (timer) clearTimeout(timer);
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
          this.log(`connection to ${this.target} closed while running a command, as expected`);
          succeed({ exitCode: null, disconnected: true });
        } else {
          fail(
            new CommunicatorError(
              "KILN_SSH_DISCONNECTED",
              `the connection to ${this.target} was lost while running a command`,
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
        timer = setTimeout(() => {
          fail(
            new CommunicatorError(
              "KILN_SSH_EXEC_TIMEOUT",
              `the command did not finish within ${ms} ms on ${this.target}; it was stopped`,
            ),
          );
        }, ms);
      }
      try {
        client.exec(full, (err, ch) => {
          if (err) {
            if (this.dead.has(client)) return lost();
            return fail(
              new CommunicatorError(
                "KILN_SSH_EXEC_FAILED",
                `could not start a command on ${this.target}: ${describeError(err)}`,
                { cause: err },
              ),
            );
          }
          channel = ch;
          if (settled) {
            stopChannel(ch);
            return;
          }
          ch.end(); // no stdin: the command sees end-of-file
          ch.on("data", (d: Buffer) => {
            const s = outDec.write(d);
            if (s) opts.onStdout?.(s);
          });
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
              if (this.dead.has(client)) lost();
              else if (opts.expectDisconnect) {
                // a rebooting server may close the channel just before the connection
                setTimeout(() => (this.dead.has(client) ? lost() : succeed({ exitCode: null })), 1000);
              } else succeed({ exitCode: null });
            });
          });
        });
      } catch (err) {
        if (this.dead.has(client)) lost();
        else
          fail(
            new CommunicatorError(
              "KILN_SSH_EXEC_FAILED",
              `could not start a command on ${this.target}: ${describeError(err)}`,
              { cause: err },
            ),
          );
      }
    });
  }

  /** Run a command and collect its output (up to `limit` characters of each stream). */
  async run(
    command: string,
    opts: Omit<ExecOptions, "onStdout" | "onStderr"> & { limit?: number } = {},
  ): Promise<ExecResult & { stdout: string; stderr: string }> {
    const limit = opts.limit ?? 1024 * 1024;
    let stdout = "";
    let stderr = "";
    const r = await this.exec(command, {
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

  // ---------------------------------------------------------------- SFTP

  private getSftp(): Promise<SFTPWrapper> {
    const client = this.requireClient("transfer files");
    if (!this.sftpSession) {
      const p = new Promise<SFTPWrapper>((resolve, reject) => {
        client.sftp((err, sftp) => {
          if (err) {
            reject(
              new CommunicatorError(
                "KILN_SSH_TRANSFER_FAILED",
                `could not start SFTP on ${this.target}: ${describeError(err)}`,
                {
                  cause: err,
                  hint: "the server needs an SFTP subsystem (OpenSSH's sftp-server, or openssh-sftp-server for dropbear)",
                },
              ),
            );
            return;
          }
          sftp.on("close", () => {
            if (this.sftpSession === p) this.sftpSession = undefined;
          });
          resolve(sftp);
        });
      });
      p.catch(() => {
        if (this.sftpSession === p) this.sftpSession = undefined;
      });
      this.sftpSession = p;
    }
    return this.sftpSession;
  }

  private transferError(what: string, err: unknown): CommunicatorError {
    if (CommunicatorError.is(err)) return err;
    return new CommunicatorError("KILN_SSH_TRANSFER_FAILED", `${what}: ${describeError(err)}`, {
      cause: err,
    });
  }

  /** sha256 of remote files with `sha256sum`, in order; undefined when the tool is not available. */
  private async remoteSha256(paths: string[]): Promise<string[] | undefined> {
    if (this.hasSha256sum === false || paths.length === 0) return paths.length === 0 ? [] : undefined;
    const out: string[] = [];
    for (let i = 0; i < paths.length; ) {
      const batch: string[] = [];
      let len = 0;
      while (i < paths.length && batch.length < 256 && len < 64 * 1024) {
        const p = paths[i++] as string;
        batch.push(p);
        len += p.length + 3;
      }
      const r = await this.run(`sha256sum -- ${batch.map(shellQuote).join(" ")}`);
      const sums = r.stdout
        .split("\n")
        .map((l) => /^\\?([0-9a-f]{64}) /.exec(l)?.[1])
        .filter((s): s is string => s !== undefined);
      if (r.exitCode !== 0 || sums.length !== batch.length) {
        if (r.exitCode === 127 || sums.length === 0) {
          this.hasSha256sum = false;
          return undefined;
        }
        throw new CommunicatorError(
          "KILN_SSH_INTEGRITY",
          `sha256sum failed on ${this.target}: ${r.stderr.trim().slice(0, 500)}`,
        );
      }
      this.hasSha256sum = true;
      out.push(...sums);
    }
    return out;
  }

  /** Compare remote files against what was sent: size via SFTP, content via sha256sum (or by reading back over SFTP). */
  private async verifyRemote(
    sftp: SFTPWrapper,
    files: { remote: string; bytes: number; sha256: string }[],
  ): Promise<void> {
    for (const f of files) {
      const st = await sftpStat(sftp, f.remote);
      if (st.size !== f.bytes) {
        throw new CommunicatorError(
          "KILN_SSH_INTEGRITY",
          `${f.remote} on ${this.target} has ${st.size} bytes after upload, expected ${f.bytes}`,
        );
      }
    }
    const sums = await this.remoteSha256(files.map((f) => f.remote));
    for (const [i, f] of files.entries()) {
      let sum = sums?.[i];
      if (sum === undefined) {
        const h = await sftpOpen(sftp, f.remote, "r");
        try {
          sum = (await readChunks(sftp, h, f.bytes)).sha256;
        } finally {
          await sftpClose(sftp, h).catch(() => {});
        }
      }
      if (sum !== f.sha256) {
        throw new CommunicatorError(
          "KILN_SSH_INTEGRITY",
          `${f.remote} on ${this.target} does not match what was sent (sha256 ${sum}, expected ${f.sha256})`,
        );
      }
    }
  }

  private async put(
    sftp: SFTPWrapper,
    src: string | Buffer,
    remotePath: string,
    mode: number | undefined,
    onProgress?: (done: number, total: number) => void,
  ): Promise<{ remote: string; bytes: number; sha256: string }> {
    const { total, chunks, fileMode } = await openSource(src, mode, 1024 * 1024);
    const handle = await sftpOpen(sftp, remotePath, "w", fileMode);
    let result: { bytes: number; sha256: string };
    try {
      onProgress?.(0, total);
      result = await writeChunks(
        sftp,
        handle,
        chunks,
        onProgress ? (d) => onProgress(d, Math.max(total, d)) : undefined,
      );
      await sftpFchmod(sftp, handle, fileMode);
    } finally {
      await sftpClose(sftp, handle).catch(() => {});
    }
    return { remote: remotePath, ...result };
  }

  /** The SFTP session, or undefined when the server has no SFTP subsystem (then files go through a remote `cat`). */
  private async sftpOrFallback(): Promise<SFTPWrapper | undefined> {
    if (this.noSftp) return undefined;
    try {
      return await this.getSftp();
    } catch (err) {
      if (!this.connected || !CommunicatorError.is(err, "KILN_SSH_TRANSFER_FAILED")) throw err;
      this.noSftp = true;
      this.log(`${this.target} offers no SFTP; copying files through a remote shell (cat) instead`);
      return undefined;
    }
  }

  private async requireSftp(what: string): Promise<SFTPWrapper> {
    const sftp = await this.sftpOrFallback();
    if (!sftp) {
      throw new CommunicatorError(
        "KILN_SSH_TRANSFER_FAILED",
        `${what} needs SFTP, which ${this.target} does not offer`,
        {
          hint: "install an SFTP server on the machine (openssh-sftp-server), or copy single files",
        },
      );
    }
    return sftp;
  }

  /**
   * Run a command feeding `input` to its stdin (with back-pressure) and handing stdout to `sink`
   * (awaited: the channel pauses meanwhile). Resolves with the exit code and the start of stderr.
   */
  private streamExec(
    command: string,
    input: AsyncIterable<Buffer> | Iterable<Buffer> | undefined,
    sink?: (chunk: Buffer) => Promise<void> | void,
  ): Promise<{ exitCode: number | null; stderr: string }> {
    const client = this.requireClient("transfer files");
    return new Promise((resolve, reject) => {
      client.exec(command, (err, ch) => {
        if (err) return reject(err);
        let exitCode: number | null = null;
        let stderr = "";
        let failed = false;
        const fail = (e: unknown): void => {
          if (failed) return;
          failed = true;
          ch.close();
          reject(e);
        };
        ch.on("exit", (code: number | null) => {
          exitCode = code ?? null;
        });
        ch.stderr.on("data", (d: Buffer) => {
          if (stderr.length < 4096) stderr += d.toString();
        });
        ch.on("data", (d: Buffer) => {
          if (!sink) return;
          const r = sink(d);
          if (r) {
            ch.pause();
            r.then(
              () => ch.resume(),
              (e: unknown) => fail(e),
            );
          }
        });
        ch.on("close", () => {
          if (failed) return;
          if (this.dead.has(client)) {
            failed = true;
            reject(
              new CommunicatorError(
                "KILN_SSH_DISCONNECTED",
                `the connection to ${this.target} was lost during a transfer`,
              ),
            );
            return;
          }
          resolve({ exitCode, stderr });
        });
        void (async () => {
          try {
            if (input) {
              for await (const chunk of input) {
                if (failed) return;
                if (!ch.write(chunk)) await new Promise<void>((r) => ch.once("drain", () => r()));
              }
            }
            ch.end();
          } catch (e) {
            fail(e);
          }
        })();
      });
    });
  }

  /** Upload one file without SFTP: `cat > path` over an exec channel, then chmod. */
  private async putViaShell(
    src: string | Buffer,
    remotePath: string,
    mode: number | undefined,
    onProgress?: (done: number, total: number) => void,
  ): Promise<{ remote: string; bytes: number; sha256: string }> {
    const { total, chunks, fileMode } = await openSource(src, mode, 256 * 1024);
    const hash = createHash("sha256");
    let bytes = 0;
    async function* counted(): AsyncIterable<Buffer> {
      for await (const c of chunks) {
        hash.update(c);
        bytes += c.length;
        yield c;
        onProgress?.(bytes, Math.max(total, bytes));
      }
    }
    onProgress?.(0, total);
    const q = shellQuote(remotePath);
    const r = await this.streamExec(
      `cat > ${q} && chmod ${fileMode.toString(8).padStart(4, "0")} ${q}`,
      counted(),
    );
    if (r.exitCode !== 0) {
      throw new CommunicatorError(
        "KILN_SSH_TRANSFER_FAILED",
        `writing ${remotePath} on ${this.target} failed (exit ${String(r.exitCode)}): ${r.stderr.trim().slice(0, 500)}`,
      );
    }
    return { remote: remotePath, bytes, sha256: hash.digest("hex") };
  }

  /** Check files written without SFTP: sha256sum when the machine has it, else the size with `wc -c`. */
  private async verifyViaShell(f: { remote: string; bytes: number; sha256: string }): Promise<void> {
    const sums = await this.remoteSha256([f.remote]);
    if (sums) {
      if (sums[0] !== f.sha256) {
        throw new CommunicatorError(
          "KILN_SSH_INTEGRITY",
          `${f.remote} on ${this.target} does not match what was sent (sha256 ${sums[0] ?? "?"}, expected ${f.sha256})`,
        );
      }
      return;
    }
    const r = await this.run(`wc -c < ${shellQuote(f.remote)}`);
    const size = Number(r.stdout.trim());
    if (r.exitCode !== 0 || size !== f.bytes) {
      throw new CommunicatorError(
        "KILN_SSH_INTEGRITY",
        `${f.remote} on ${this.target} has ${r.stdout.trim() || "unknown"} bytes after upload, expected ${f.bytes}`,
      );
    }
  }

  /** Download one file without SFTP: `cat path` over an exec channel into a temporary local file. */
  private async getViaShell(
    remotePath: string,
    localPath: string,
    onProgress?: (done: number, total: number) => void,
  ): Promise<{ remote: string; bytes: number; sha256: string }> {
    const q = shellQuote(remotePath);
    const info = await this.run(`stat -L -c '%s %a' ${q}`);
    const m = /^(\d+) ([0-7]+)/.exec(info.stdout);
    const total = m ? Number(m[1]) : 0;
    const mode = m ? Number.parseInt(m[2] ?? "644", 8) : 0o644;
    const tmp = `${localPath}.kiln-partial-${randomBytes(4).toString("hex")}`;
    const out = createWriteStream(tmp, { flags: "wx", mode: 0o600 });
    await new Promise<void>((resolve, reject) => {
      out.once("open", () => resolve());
      out.once("error", reject);
    });
    const hash = createHash("sha256");
    let bytes = 0;
    let ok = false;
    try {
      let r: { exitCode: number | null; stderr: string };
      try {
        onProgress?.(0, total);
        r = await this.streamExec(`cat ${q}`, undefined, (c) => {
          hash.update(c);
          bytes += c.length;
          onProgress?.(bytes, Math.max(total, bytes));
          return writeLocal(out, c);
        });
      } finally {
        await new Promise<void>((resolve, reject) => {
          out.once("error", reject);
          out.end(() => resolve());
        });
      }
      if (r.exitCode !== 0) {
        throw new CommunicatorError(
          "KILN_SSH_TRANSFER_FAILED",
          `reading ${remotePath} on ${this.target} failed (exit ${String(r.exitCode)}): ${r.stderr.trim().slice(0, 500)}`,
        );
      }
      if (m && bytes !== total) {
        throw new CommunicatorError(
          "KILN_SSH_INTEGRITY",
          `${remotePath} on ${this.target}: received ${bytes} of ${total} bytes`,
        );
      }
      await chmod(tmp, mode);
      await rename(tmp, localPath);
      ok = true;
      return { remote: remotePath, bytes, sha256: hash.digest("hex") };
    } finally {
      if (!ok) await rm(tmp, { force: true }).catch(() => {});
    }
  }

  async upload(src: string | Buffer, remotePath: string, opts: UploadOptions = {}): Promise<void> {
    const what = `upload of ${typeof src === "string" ? src : "data"} to ${remotePath} on ${this.target} failed`;
    try {
      const sftp = await this.sftpOrFallback();
      if (!sftp) {
        const sent = await this.putViaShell(src, remotePath, opts.mode, opts.onProgress);
        if (opts.verify !== false) await this.verifyViaShell(sent);
        return;
      }
      const sent = await this.put(sftp, src, remotePath, opts.mode, opts.onProgress);
      if (opts.verify !== false) await this.verifyRemote(sftp, [sent]);
    } catch (err) {
      throw this.transferError(what, err);
    }
  }

  private async mkdirRemote(sftp: SFTPWrapper, dir: string): Promise<boolean> {
    try {
      const st = await sftpStat(sftp, dir);
      if (!st.isDirectory())
        throw new CommunicatorError(
          "KILN_SSH_TRANSFER_FAILED",
          `${dir} on ${this.target} exists and is not a directory`,
        );
      return false;
    } catch (err) {
      if (CommunicatorError.is(err)) throw err;
      if ((err as { code?: number }).code !== 2) throw err; // not "no such file"
    }
    const parent = posix.dirname(dir);
    if (parent !== dir && parent !== ".") await this.mkdirRemote(sftp, parent);
    await sftpMkdir(sftp, dir);
    return true;
  }

  async uploadDir(localDir: string, remoteDir: string): Promise<void> {
    try {
      const sftp = await this.requireSftp("uploading a directory");
      const root = await stat(localDir);
      if (!root.isDirectory())
        throw new CommunicatorError("KILN_SSH_TRANSFER_FAILED", `${localDir} is not a directory`);
      const created = await this.mkdirRemote(sftp, remoteDir);
      const files: { remote: string; bytes: number; sha256: string }[] = [];
      const dirModes: [string, number][] = [];
      if (created) dirModes.push([remoteDir, root.mode & 0o7777]);
      const walk = async (local: string, remote: string): Promise<void> => {
        const entries = await readdir(local, { withFileTypes: true });
        entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
        for (const e of entries) {
          const l = join(local, e.name);
          const r = posix.join(remote, e.name);
          if (e.isDirectory()) {
            const st = await stat(l);
            await this.mkdirRemote(sftp, r);
            await walk(l, r);
            dirModes.push([r, st.mode & 0o7777]);
          } else if (e.isFile()) {
            files.push(await this.put(sftp, l, r, undefined));
          } else if (e.isSymbolicLink()) {
            const target = await readlink(l);
            await sftpUnlink(sftp, r).catch(() => {});
            await sftpSymlink(sftp, target, r);
          } else {
            this.log(`skipping ${l}: not a file, directory or symlink`);
          }
        }
      };
      await walk(localDir, remoteDir);
      for (const [dir, mode] of dirModes) await sftpChmod(sftp, dir, mode);
      await this.verifyRemote(sftp, files);
    } catch (err) {
      throw this.transferError(
        `upload of directory ${localDir} to ${remoteDir} on ${this.target} failed`,
        err,
      );
    }
  }

  private async get(
    sftp: SFTPWrapper,
    remotePath: string,
    localPath: string,
    onProgress?: (done: number, total: number) => void,
  ): Promise<{ remote: string; bytes: number; sha256: string; mode: number }> {
    const handle = await sftpOpen(sftp, remotePath, "r");
    const tmp = `${localPath}.kiln-partial-${randomBytes(4).toString("hex")}`;
    let ok = false;
    try {
      const st = await sftpFstat(sftp, handle);
      if ((st.mode & S_IFMT) !== S_IFREG)
        throw new CommunicatorError(
          "KILN_SSH_TRANSFER_FAILED",
          `${remotePath} on ${this.target} is not a regular file`,
        );
      const mode = st.mode & 0o7777;
      const out = createWriteStream(tmp, { flags: "wx", mode: 0o600 });
      const opened = new Promise<void>((resolve, reject) => {
        out.once("open", () => resolve());
        out.once("error", reject);
      });
      await opened;
      let result: { bytes: number; sha256: string };
      try {
        onProgress?.(0, st.size);
        result = await readChunks(
          sftp,
          handle,
          st.size,
          (c) => writeLocal(out, c),
          onProgress ? (d) => onProgress(d, st.size) : undefined,
        );
      } finally {
        await new Promise<void>((resolve, reject) => {
          out.once("error", reject);
          out.end(() => resolve());
        });
      }
      if (result.bytes !== st.size) {
        throw new CommunicatorError(
          "KILN_SSH_INTEGRITY",
          `${remotePath} on ${this.target} changed size while downloading (${result.bytes} of ${st.size} bytes)`,
        );
      }
      await chmod(tmp, mode);
      await rename(tmp, localPath);
      ok = true;
      return { remote: remotePath, mode, ...result };
    } finally {
      await sftpClose(sftp, handle).catch(() => {});
      if (!ok) await rm(tmp, { force: true }).catch(() => {});
    }
  }

  private async verifyDownloaded(files: { remote: string; sha256: string; local: string }[]): Promise<void> {
    const sums = await this.remoteSha256(files.map((f) => f.remote));
    if (!sums) return; // no sha256sum remotely: sizes were checked while reading
    for (const [i, f] of files.entries()) {
      if (sums[i] !== f.sha256) {
        await rm(f.local, { force: true });
        throw new CommunicatorError(
          "KILN_SSH_INTEGRITY",
          `${f.local} does not match ${f.remote} on ${this.target} (sha256 ${f.sha256}, remote ${sums[i] ?? "?"})`,
        );
      }
    }
  }

  async download(remotePath: string, localPath: string, opts: TransferOptions = {}): Promise<void> {
    try {
      const sftp = await this.sftpOrFallback();
      if (!sftp) {
        const got = await this.getViaShell(remotePath, localPath, opts.onProgress);
        if (opts.verify !== false) await this.verifyDownloaded([{ ...got, local: localPath }]);
        return;
      }
      const got = await this.get(sftp, remotePath, localPath, opts.onProgress);
      if (opts.verify !== false) await this.verifyDownloaded([{ ...got, local: localPath }]);
    } catch (err) {
      throw this.transferError(`download of ${remotePath} from ${this.target} to ${localPath} failed`, err);
    }
  }

  async downloadDir(remoteDir: string, localDir: string): Promise<void> {
    try {
      const sftp = await this.requireSftp("downloading a directory");
      const root = await sftpStat(sftp, remoteDir);
      if (!root.isDirectory())
        throw new CommunicatorError(
          "KILN_SSH_TRANSFER_FAILED",
          `${remoteDir} on ${this.target} is not a directory`,
        );
      let created = false;
      try {
        await lstat(localDir);
      } catch {
        await mkdir(localDir, { recursive: true });
        created = true;
      }
      const files: { remote: string; sha256: string; local: string }[] = [];
      const dirModes: [string, number][] = [];
      if (created) dirModes.push([localDir, root.mode & 0o7777]);
      const walk = async (remote: string, local: string): Promise<void> => {
        const entries = (await sftpReaddir(sftp, remote)).filter(
          (e) => e.filename !== "." && e.filename !== "..",
        );
        entries.sort((a, b) => (a.filename < b.filename ? -1 : a.filename > b.filename ? 1 : 0));
        for (const e of entries) {
          const r = posix.join(remote, e.filename);
          const l = join(local, e.filename);
          const type = e.attrs.mode & S_IFMT;
          if (type === S_IFDIR) {
            await mkdir(l, { recursive: true });
            await walk(r, l);
            dirModes.push([l, e.attrs.mode & 0o7777]);
          } else if (type === S_IFREG) {
            const got = await this.get(sftp, r, l);
            files.push({ ...got, local: l });
          } else if (type === S_IFLNK) {
            const target = await sftpReadlink(sftp, r);
            await rm(l, { force: true });
            await symlink(target, l);
          } else {
            this.log(`skipping ${r}: not a file, directory or symlink`);
          }
        }
      };
      await walk(remoteDir, localDir);
      for (const [dir, mode] of dirModes) await chmod(dir, mode);
      await this.verifyDownloaded(files);
    } catch (err) {
      throw this.transferError(
        `download of directory ${remoteDir} from ${this.target} to ${localDir} failed`,
        err,
      );
    }
  }

  // ---------------------------------------------------------------- closing

  private async endClient(client: Client | undefined): Promise<void> {
    if (!client || this.dead.has(client)) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        client.destroy();
        resolve();
      }, 2000);
      client.once("close", () => {
        clearTimeout(t);
        resolve();
      });
      try {
        client.end();
      } catch {
        client.destroy();
      }
    });
    this.dead.add(client);
  }

  private async dropClient(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    this.sftpSession = undefined;
    await this.endClient(c);
  }

  private async closeBastion(): Promise<void> {
    const b = this.bastion;
    this.bastion = undefined;
    await this.endClient(b);
  }

  async close(): Promise<void> {
    await this.dropClient();
    await this.closeBastion();
  }
}

/** The bytes to upload (a local file or a buffer), in chunks of `chunk` bytes, with size and mode. */
async function openSource(
  src: string | Buffer,
  mode: number | undefined,
  chunk: number,
): Promise<{ total: number; chunks: AsyncIterable<Buffer> | Iterable<Buffer>; fileMode: number }> {
  if (typeof src !== "string") {
    return { total: src.length, fileMode: mode ?? 0o644, chunks: bufferChunks(src, chunk) };
  }
  const st = await stat(src);
  if (!st.isFile()) throw new CommunicatorError("KILN_SSH_TRANSFER_FAILED", `${src} is not a regular file`);
  return {
    total: st.size,
    fileMode: mode ?? st.mode & 0o7777,
    chunks: createReadStream(src, { highWaterMark: chunk }),
  };
}
