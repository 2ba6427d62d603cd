export * from "./boot/index.js";
export * from "./communicator/index.js";
export * from "./download/index.js";
export * from "./floppy/index.js";
export * from "./http/index.js";
export * from "./iso/index.js";
export * from "./local-shell/index.js";
export * from "./qmp/index.js";
export * from "./schemas.js";
export * from "./steps/clear-keys.js";
export {
  type CommunicatorOptions,
  type ConnectStepOptions,
  connectStep,
  STATE_COMMUNICATOR,
} from "./steps/connect.js";
export {
  type HttpOptions,
  type HttpServerStepOptions,
  httpServerStep,
  STATE_HTTP_SERVER,
} from "./steps/http.js";
export {
  needsTemporaryKey,
  STATE_TEMPORARY_KEY,
  type TemporaryKeyOptions,
  temporaryKeyStep,
} from "./steps/key.js";
export { type PrefixErrorsOptions, prefixStepErrors } from "./steps/prefix.js";
export * from "./vnc/index.js";
