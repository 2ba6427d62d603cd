/** The communicator contract is core's (the engine calls it); the SDK implements it. */
export type { Communicator, ExecOptions, ExecResult, TransferOptions, UploadOptions } from "@kiln/core";
