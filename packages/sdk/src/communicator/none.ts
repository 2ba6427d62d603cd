import { CommunicatorError } from "./errors.js";
import type { Communicator, ExecResult } from "./types.js";

function unsupported(what: string): Promise<never> {
  return Promise.reject(
    new CommunicatorError(
      "KILN_COMMUNICATOR_NONE",
      `cannot ${what}: this build uses communicator "none", which has no connection to the machine`,
      { hint: 'set communicator to "ssh" (with ssh_username and a password or key) to run provisioners' },
    ),
  );
}

/** The `none` communicator: connecting and closing succeed, everything else fails with `KILN_COMMUNICATOR_NONE`. */
export class NoneCommunicator implements Communicator {
  async connect(): Promise<void> {}
  exec(command: string): Promise<ExecResult> {
    void command;
    return unsupported("run a command");
  }
  upload(): Promise<void> {
    return unsupported("upload a file");
  }
  uploadDir(): Promise<void> {
    return unsupported("upload a directory");
  }
  download(): Promise<void> {
    return unsupported("download a file");
  }
  downloadDir(): Promise<void> {
    return unsupported("download a directory");
  }
  async close(): Promise<void> {}
}
