export { makeCa, makeLeaf, type Pem } from "@kiln-testbed/doubles";
export { OapiFault } from "./api-error.js";
export { type AccessKeyDef, createVerifier, type Verifier } from "./auth.js";
export { type RawCallOptions, rawCall } from "./client.js";
export type { ActionFault, Faults, TransitionKind } from "./faults.js";
export { InMemoryMachines, type MachineSpec, type Machines } from "./machines.js";
export {
  type AccountDef,
  type Leftovers,
  NOTHING_LEFT,
  type OutscaleDouble,
  type OutscaleDoubleOptions,
  startOutscaleDouble,
} from "./server.js";
export { loadSigV4Vectors, type SigV4Vector, VECTORS_PATH } from "./sigv4-vectors.js";
export { createChecker, loadSubset, SUBSET_PATH } from "./spec.js";
