export { Catalog, type CatalogImage, DEFAULT_IMAGES, generatePassword, type ImageDef } from "./catalog.js";
export { request, waitCommand } from "./client.js";
export { CONTRACT_PATH, checkAnswer, checkRequest, loadContract, shapeProblems } from "./contract.js";
export type { FaultSpec, Faults, IdShape } from "./faults.js";
export {
  LoopbackPool,
  type Machine,
  type MachineDisk,
  type MachineHost,
  type MachineSpec,
  type SeedSpec,
} from "./machine.js";
export { MemoryHost, type MemoryHostOptions, MemoryMachine } from "./memory-host.js";
export type { CommandKind, CommandState } from "./queue.js";
export { type KamateraDouble, type KamateraDoubleOptions, startKamateraDouble } from "./server.js";
export type { Account, CloneRecord, RequestRecord, ServerState } from "./state.js";
