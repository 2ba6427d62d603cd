export {
  ChrootCommunicator,
  type ChrootConfig,
  chrootCommandLine,
  DEFAULT_CHROOT_ENV,
} from "./communicator.js";
export {
  type CommandWrapper,
  type HostCommandResult,
  type HostCommands,
  type HostRunOptions,
  hostCommands,
  type UserCommandOptions,
} from "./host.js";
export {
  type AttachedImage,
  type AttachOptions,
  attachImage,
  detachImage,
  loopAttached,
  loopsOf,
  newAttachment,
  type Partition,
  type PartitionMode,
  parsePartx,
  partitionPath,
  readPartitions,
  waitForBlockDevice,
} from "./loop.js";
export {
  isMountPoint,
  type MountEntry,
  mountsUnder,
  parseMountInfo,
  readMounts,
  type UnmountOptions,
  unescapeMountField,
  unmount,
  unmountTree,
} from "./mounts.js";
export {
  CHROOT_FIELDS,
  CHROOT_OPTIONS,
  ChrootMount,
  type ChrootMountSpec,
  type ChrootOptions,
  type ChrootStepOptions,
  chrootOptionProblems,
  DEFAULT_CHROOT_MOUNTS,
  DEFAULT_COPY_FILES,
  DEFAULT_MOUNT_PATH,
} from "./options.js";
export {
  ChrootPathError,
  fsLookup,
  insideRoot,
  MAX_LINKS,
  type PathLookup,
  type PathNode,
  type ResolveOptions,
  resolveInRoot,
  resolveInRootWith,
} from "./paths.js";
export { commandWrapper, placeholderError, placeholderProblem, renderWith } from "./placeholders.js";
export { type FolderUse, type FolderUser, killProcessesUsing, processesUsing } from "./processes.js";
export { type AttachImageHow, attachImageStep } from "./steps/attach-image.js";
export { chrootMountsStep } from "./steps/chroot-mounts.js";
export { type ChrootConnectHow, chrootConnectStep } from "./steps/connect.js";
export { type CopyFilesHow, copyFilesStep } from "./steps/copy-files.js";
export { type MountDeviceHow, mountDeviceStep, rootDevice } from "./steps/mount-device.js";
export { postMountCommandsStep } from "./steps/post-mount.js";
export { preMountCommandsStep } from "./steps/pre-mount.js";
export { chrootTeardownStep } from "./steps/teardown.js";
export { ChrootTeardown } from "./teardown.js";
