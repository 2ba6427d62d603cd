export { durationOr, parseDuration } from "./duration.js";
export { CommunicatorError, type CommunicatorErrorCode } from "./errors.js";
export { type CommunicatorType, createCommunicator } from "./factory.js";
export { type HostKeyPins, hostKeyAllowed, pinsFromHostKeys, pinsFromKnownHosts } from "./hostkeys.js";
export {
  generateTemporaryKeyPair,
  MIN_RSA_BITS,
  publicKeyBlob,
  publicKeyFingerprint,
  publicKeyOf,
  type TemporaryKeyFile,
  type TemporaryKeyPair,
  type TemporaryKeyType,
  writeTemporaryPrivateKey,
} from "./keys.js";
export { NoneCommunicator } from "./none.js";
export { endGroup, endGroupCommand, groupedCommand } from "./remote-group.js";
export { SSHCommunicator, type SSHConfig } from "./ssh.js";
export type { Communicator, ExecOptions, ExecResult, TransferOptions, UploadOptions } from "./types.js";
