import { CommunicatorError } from "./errors.js";
import { NoneCommunicator } from "./none.js";
import { SSHCommunicator, type SSHConfig } from "./ssh.js";
import type { Communicator } from "./types.js";

/** Packer's `communicator` option. ("winrm" is not supported yet.) */
export type CommunicatorType = "ssh" | "none";

/** Build the communicator a source asks for; `ssh` is the default, as in Packer. */
export function createCommunicator(type: CommunicatorType | undefined, config?: SSHConfig): Communicator {
  switch (type ?? "ssh") {
    case "none":
      return new NoneCommunicator();
    case "ssh":
      if (!config)
        throw new CommunicatorError(
          "KILN_SSH_CONFIG",
          "[ssh] the ssh communicator needs ssh_host and ssh_username",
        );
      return new SSHCommunicator(config);
    default:
      throw new CommunicatorError(
        "KILN_SSH_CONFIG",
        `unknown communicator "${String(type)}": use "ssh" or "none"`,
      );
  }
}
