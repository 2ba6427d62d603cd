/**
 * The SSH communicator on ssh2. This class only composes its parts (in ./ssh/): config.ts (options
 * and their defaults), auth.ts (keys, agent, password), handshake.ts and connect.ts (host key pins,
 * bastion, the retry loop, keep-alive), exec.ts (commands), transfer.ts (SFTP with verification,
 * and a `cat` fallback in shell-transfer.ts). link.ts holds the state they share.
 */

import type { SSHConfig } from "./ssh/config.js";
import * as connecting from "./ssh/connect.js";
import * as commands from "./ssh/exec.js";
import { SSHLink } from "./ssh/link.js";
import * as transfers from "./ssh/transfer.js";
import type { Communicator, ExecOptions, ExecResult, TransferOptions, UploadOptions } from "./types.js";

export type { SSHConfig } from "./ssh/config.js";

/** An SSH communicator built on ssh2: exec, SFTP transfers with integrity checks, bastion hosts, reconnects. */
export class SSHCommunicator implements Communicator {
  readonly host: string;
  readonly port: number;
  private readonly link: SSHLink;

  constructor(config: SSHConfig) {
    this.link = new SSHLink(config);
    this.host = this.link.host;
    this.port = this.link.port;
  }

  /** The SHA256 fingerprint of the server's host key, once connected. */
  get hostKeyFingerprint(): string | undefined {
    return this.link.hostKeyFingerprint;
  }
  set hostKeyFingerprint(value: string | undefined) {
    this.link.hostKeyFingerprint = value;
  }

  /** True while a connection is established. */
  get connected(): boolean {
    return this.link.connected;
  }

  connect(signal?: AbortSignal): Promise<void> {
    return connecting.connect(this.link, signal);
  }

  /** Drop the current connection (if any) and connect again, waiting up to ssh_timeout for SSH to come back. */
  async reconnect(signal?: AbortSignal): Promise<void> {
    await this.link.dropClient();
    await connecting.connect(this.link, signal);
  }

  exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    return commands.exec(this.link, command, opts);
  }

  /** Run a command and collect its output (up to `limit` characters of each stream). */
  run(
    command: string,
    opts: Omit<ExecOptions, "onStdout" | "onStderr"> & { limit?: number } = {},
  ): Promise<ExecResult & { stdout: string; stderr: string }> {
    return commands.run(this.link, command, opts);
  }

  upload(src: string | Buffer, remotePath: string, opts: UploadOptions = {}): Promise<void> {
    return transfers.upload(this.link, src, remotePath, opts);
  }

  uploadDir(localDir: string, remoteDir: string): Promise<void> {
    return transfers.uploadDir(this.link, localDir, remoteDir);
  }

  download(remotePath: string, localPath: string, opts: TransferOptions = {}): Promise<void> {
    return transfers.download(this.link, remotePath, localPath, opts);
  }

  downloadDir(remoteDir: string, localDir: string): Promise<void> {
    return transfers.downloadDir(this.link, remoteDir, localDir);
  }

  async close(): Promise<void> {
    await this.link.dropClient();
    await this.link.closeBastion();
  }
}
