/** How a remote command ended. */
export interface ExecResult {
  /** The exit status, or null when the command ended without one (killed by a signal, connection lost). */
  exitCode: number | null;
  /** The signal that ended the command, when the server reports one (as ssh2 names it, e.g. "SIGKILL"). */
  signal?: string;
  /** True when the connection dropped before the command reported an exit status and `expectDisconnect` was set. */
  disconnected?: boolean;
}

export interface ExecOptions {
  /** Receives standard output as it arrives (UTF-8, never split inside a character). */
  onStdout?: (chunk: string) => void;
  /** Receives standard error as it arrives. */
  onStderr?: (chunk: string) => void;
  /** Cancels the command: the channel is closed and the promise rejects with `KILN_SSH_ABORTED`. */
  signal?: AbortSignal;
  /** Gives up after this many milliseconds: the channel is closed and the promise rejects with `KILN_SSH_EXEC_TIMEOUT`. */
  timeoutMs?: number;
  /** Variables exported before the command runs (names must be valid shell identifiers). */
  env?: Record<string, string>;
  /**
   * The command may drop the connection (a reboot, restarting sshd): if the connection is lost before the
   * command reports an exit status, resolve with `{ exitCode: null, disconnected: true }` instead of failing.
   * Call `reconnect()` afterwards. Packer's `expect_disconnect`.
   */
  expectDisconnect?: boolean;
}

export interface TransferOptions {
  /** Called as bytes are acknowledged, with the running total and the size of the file. */
  onProgress?: (done: number, total: number) => void;
  /** Check size and sha256 after the transfer (default true). */
  verify?: boolean;
}

export interface UploadOptions extends TransferOptions {
  /** The remote file's mode; default: the local file's mode, or 0o644 for a Buffer. */
  mode?: number;
}

/** A way to run commands on a machine and move files to and from it. */
export interface Communicator {
  connect(signal?: AbortSignal): Promise<void>;
  exec(command: string, opts?: ExecOptions): Promise<ExecResult>;
  upload(src: string | Buffer, remotePath: string, opts?: UploadOptions): Promise<void>;
  /** Copies the contents of `localDir` into `remoteDir` (created if missing), recursively, keeping modes and symlinks. */
  uploadDir(localDir: string, remoteDir: string): Promise<void>;
  download(remotePath: string, localPath: string, opts?: TransferOptions): Promise<void>;
  /** Copies the contents of `remoteDir` into `localDir` (created if missing), recursively, keeping modes and symlinks. */
  downloadDir(remoteDir: string, localDir: string): Promise<void>;
  close(): Promise<void>;
  /** Drop the connection and connect again, waiting for the machine to come back (after expectDisconnect). */
  reconnect?(signal?: AbortSignal): Promise<void>;
}
