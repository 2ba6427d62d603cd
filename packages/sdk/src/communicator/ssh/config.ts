/** The SSH communicator's options (Packer's names), their defaults and checks. */
import { durationOr } from "../duration.js";
import { CommunicatorError } from "../errors.js";
import { describeError } from "./errors.js";

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
  /** Connect through this SOCKS5 proxy. */
  ssh_proxy_host?: string;
  ssh_proxy_port?: number;
  ssh_proxy_username?: string;
  ssh_proxy_password?: string;
  /** Ciphers and key exchange algorithms to offer, in order; default: ssh2's. */
  ssh_ciphers?: string[];
  ssh_key_exchange_algorithms?: string[];
  /** "[bind:]port:host:hostport" tunnels while connected, as ssh -L / -R. */
  ssh_local_tunnels?: string[];
  ssh_remote_tunnels?: string[];
  /** Run commands in a pseudo-terminal. */
  ssh_pty?: boolean;
  /** Receives progress lines ("waiting for SSH…"). Never given secrets. */
  log?: (line: string) => void;
  /** Back-off between connection attempts: starts at `initialMs` (default 250) and doubles up to `maxMs` (default 5000). */
  retry?: { initialMs?: number; maxMs?: number };
}

/** The options of SSHConfig that need parsing or defaults, resolved and checked once. */
export interface SSHSettings {
  host: string;
  port: number;
  timeoutMs: number;
  handshakeAttempts: number;
  keepAliveMs: number;
  readWriteTimeoutMs: number;
}

/** Check `config` and resolve its durations and defaults; throws KILN_SSH_CONFIG. */
export function resolveSettings(config: SSHConfig): SSHSettings {
  const prefix = "[ssh]";
  if (!config.ssh_host) throw new CommunicatorError("KILN_SSH_CONFIG", `${prefix} ssh_host is required`);
  if (!config.ssh_username)
    throw new CommunicatorError("KILN_SSH_CONFIG", `${prefix} ssh_username is required`);
  const port = config.ssh_port ?? 22;
  let timeoutMs: number;
  let keepAliveMs: number;
  let readWriteTimeoutMs: number;
  try {
    timeoutMs = durationOr(config.ssh_timeout, 5 * 60_000);
    keepAliveMs = durationOr(config.ssh_keep_alive_interval, 5000);
    readWriteTimeoutMs = durationOr(config.ssh_read_write_timeout, 0);
  } catch (err) {
    throw new CommunicatorError("KILN_SSH_CONFIG", `${prefix} ${describeError(err)}`, { cause: err });
  }
  const handshakeAttempts = config.ssh_handshake_attempts ?? 10;
  if (!Number.isInteger(handshakeAttempts) || handshakeAttempts < 1) {
    throw new CommunicatorError(
      "KILN_SSH_CONFIG",
      `${prefix} ssh_handshake_attempts must be a positive integer`,
    );
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new CommunicatorError("KILN_SSH_CONFIG", `${prefix} ssh_port must be between 1 and 65535`);
  }
  if (config.ssh_private_key_file && config.ssh_private_key !== undefined) {
    throw new CommunicatorError(
      "KILN_SSH_CONFIG",
      `${prefix} give either ssh_private_key_file or ssh_private_key, not both`,
    );
  }
  return { host: config.ssh_host, port, timeoutMs, handshakeAttempts, keepAliveMs, readWriteTimeoutMs };
}
