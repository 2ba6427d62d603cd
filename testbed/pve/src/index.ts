export { login, request, uploadFile, waitTask } from "./client.js";
export {
  CLOUDINIT_DISK_SIZE,
  type HostDns,
  isoVolumeLabel,
  type NoCloudFiles,
  nocloudFiles,
  nocloudMetaData,
  nocloudNetwork,
  nocloudUserData,
  readCloudinitVolume,
  sha256Crypt,
} from "./cloudinit.js";
export { packerVmIp } from "./packer-ip.js";
export { guestSpecOf, QemuRunner, type QemuRunnerOptions } from "./qemu-runner.js";
export {
  AgentCommandError,
  AgentNotRunningError,
  FakeRunner,
  type FakeRunnerOptions,
  type GuestInterface,
  type SshEndpoint,
  type VmDrive,
  type VmRunner,
  type VmSpec,
} from "./runner.js";
export {
  type FaultSpec,
  type Faults,
  type Privileges,
  type PveDouble,
  type PveDoubleOptions,
  type PveState,
  startPveDouble,
  type TokenDef,
  type UserDef,
  type VmState,
} from "./server.js";
export { createValidator, loadSubset, SUBSET_PATH } from "./spec.js";
export { formatUpid, parseUpid, type TaskInfo } from "./tasks.js";
