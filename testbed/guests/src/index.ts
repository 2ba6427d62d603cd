export {
  type AddressPool,
  DEFAULT_LOOPBACK_DIR,
  isLoopbackV4,
  LoopbackPool,
  type LoopbackPoolOptions,
} from "./addresses.js";
export { AgentCommandError, AgentNotRunningError, agentCommandName, GuestAgent } from "./agent.js";
export { ClaimDir } from "./claims.js";
export {
  type AddressMode,
  type DefaultPoolOptions,
  defaultAddressMode,
  defaultAddressPool,
} from "./default-pool.js";
export {
  copyDisk,
  createDisk,
  createOverlay,
  type DiskFormat,
  type DiskInfo,
  diskInfo,
  resizeDisk,
} from "./disks.js";
export { type ExitReason, Guest, type GuestExit, type GuestInfo } from "./guest.js";
export { type AgentInterface, hostView } from "./host-view.js";
export { inCidr } from "./ipv4.js";
export { ipLo, KILN_LO_LABEL, type LoOps, loUnavailable, PROBE_ADDRESS } from "./lo.js";
export { BENCHMARK_RANGE, defaultLoClaimDir, LoPool, type LoPoolOptions } from "./lo-pool.js";
export { choosePorts, type Forward, freePort, portFree } from "./ports.js";
export { accepts, greets } from "./probe.js";
export { macFor, qemuArgs, type ResolvedDisk } from "./qemu-args.js";
export { GuestRunner, type GuestRunnerOptions } from "./runner.js";
export {
  type CloudConfigOptions,
  cloudConfig,
  metaData,
  type NoCloudSeed,
  seedFiles,
  writeSeedIso,
} from "./seed.js";
export type { DiskBus, DiskSpec, GuestSpec, NicSpec } from "./spec.js";
