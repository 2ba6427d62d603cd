// Durations are parsed by core so that the engine and every plugin agree on Packer's syntax.
export { durationOr, parseDuration } from "@kiln/core";
