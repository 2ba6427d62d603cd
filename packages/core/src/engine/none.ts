/**
 * The `none` communicator: connecting and closing succeed, everything else fails with
 * KILN_COMMUNICATOR_NONE. The engine hands it to provisioners of a source without a
 * communicator; the SDK's connect step uses it for `communicator: none`.
 */
import { KilnError } from "../errors.js";
import type { Communicator, ExecOptions, ExecResult, TransferOptions, UploadOptions } from "./types.js";

function unsupported(what: string): Promise<never> {
  return Promise.reject(
    new KilnError(
      "KILN_COMMUNICATOR_NONE",
      `cannot ${what}: this build uses communicator "none", which has no connection to the machine`,
      {
        hint: 'Use a provisioner that runs locally (shell-local), or set communicator to "ssh" (with ssh_username and a password or key).',
      },
    ),
  );
}

export class NoneCommunicator implements Communicator {
  async connect(): Promise<void> {}
  exec(_command: string, _opts?: ExecOptions): Promise<ExecResult> {
    return unsupported("run a command");
  }
  upload(_src: string | Buffer, _remotePath: string, _opts?: UploadOptions): Promise<void> {
    return unsupported("upload a file");
  }
  uploadDir(_localDir: string, _remoteDir: string): Promise<void> {
    return unsupported("upload a directory");
  }
  download(_remotePath: string, _localPath: string, _opts?: TransferOptions): Promise<void> {
    return unsupported("download a file");
  }
  downloadDir(_remoteDir: string, _localDir: string): Promise<void> {
    return unsupported("download a directory");
  }
  async close(): Promise<void> {}
}
