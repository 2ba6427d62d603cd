/** The `none` communicator lives in core (the engine uses it too); re-exported for builders. */
export { NoneCommunicator } from "@kiln/core";
