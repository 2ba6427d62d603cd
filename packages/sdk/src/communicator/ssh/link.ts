import type { Client, SFTPWrapper } from "ssh2";
import { CommunicatorError } from "../errors.js";
import { resolveSettings, type SSHConfig, type SSHSettings } from "./config.js";

/**
 * What the parts of one SSHCommunicator share: its settings, the connection and the bastion's,
 * the SFTP session and what is known about the server. Connecting (connect.ts) fills it, exec and
 * the transfers use it.
 */
export class SSHLink implements SSHSettings {
  readonly host: string;
  readonly port: number;
  readonly timeoutMs: number;
  readonly handshakeAttempts: number;
  readonly keepAliveMs: number;
  readonly readWriteTimeoutMs: number;
  client: Client | undefined;
  bastion: Client | undefined;
  sftpSession: Promise<SFTPWrapper> | undefined;
  connecting: Promise<void> | undefined;
  hasSha256sum: boolean | undefined;
  /** The server refused the SFTP subsystem on this connection: single files go through `cat` instead. */
  noSftp = false;
  readonly dead = new WeakSet<Client>();
  /** The SHA256 fingerprint of the server's host key, once connected. */
  hostKeyFingerprint: string | undefined;
  /** ssh_local_tunnels / ssh_remote_tunnels of the current connection. */
  tunnels: { close(): Promise<void> } | undefined;

  constructor(readonly config: SSHConfig) {
    const s = resolveSettings(config);
    this.host = s.host;
    this.port = s.port;
    this.timeoutMs = s.timeoutMs;
    this.handshakeAttempts = s.handshakeAttempts;
    this.keepAliveMs = s.keepAliveMs;
    this.readWriteTimeoutMs = s.readWriteTimeoutMs;
  }

  log(line: string): void {
    this.config.log?.(line);
  }

  get target(): string {
    return `${this.host}:${this.port}`;
  }

  /** True while a connection is established. */
  get connected(): boolean {
    return this.client !== undefined && !this.dead.has(this.client);
  }

  requireClient(what: string): Client {
    const c = this.client;
    if (!c || this.dead.has(c)) {
      throw new CommunicatorError(
        "KILN_SSH_NOT_CONNECTED",
        `cannot ${what}: not connected to ${this.target} (call connect() first)`,
      );
    }
    return c;
  }

  async endClient(client: Client | undefined): Promise<void> {
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

  async dropClient(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    this.sftpSession = undefined;
    const t = this.tunnels;
    this.tunnels = undefined;
    await t?.close();
    await this.endClient(c);
  }

  async closeBastion(): Promise<void> {
    const b = this.bastion;
    this.bastion = undefined;
    await this.endClient(b);
  }
}
