export { durationOr, parseDuration } from "./duration.js";
export {
  type BuildOptions,
  type BuildResult,
  type PlannedRun,
  planRuns,
  type RunResult,
  runBuild,
} from "./engine/build.js";
export { type CheckOptions, checkComponents } from "./engine/check.js";
export {
  CHECKPOINTS,
  type CheckpointHooks,
  type CheckpointInfo,
  type CheckpointSaveContext,
  type CheckpointSession,
} from "./engine/checkpoint/api.js";
export { CHECKPOINT_UNUSABLE, CheckpointUnusableError } from "./engine/checkpoint/errors.js";
export { hashPath, sha256 } from "./engine/checkpoint/hash.js";
export { localPaths } from "./engine/checkpoint/inputs.js";
export { type PruneOptions, type PruneResult, pruneCache } from "./engine/checkpoint/prune.js";
export { type OutputRecord, readRecord, recordPath } from "./engine/checkpoint/record.js";
export type { CheckpointSettings } from "./engine/checkpoint/run.js";
export {
  type CacheEntry,
  type CheckpointMeta,
  CheckpointStore,
  defaultCacheDir,
} from "./engine/checkpoint/store.js";
export {
  createRunContext,
  type OwnedRunContext,
  type RunContextInit,
} from "./engine/context.js";
export { failRunOf, uncaughtInRun, withinRun } from "./engine/crash.js";
export { type DataSourceOptions, type DataValues, dataOrder, evaluateDataSources } from "./engine/data.js";
export { EventBus, type KilnEvent, type KilnEventType, type Listener } from "./engine/events.js";
export { NoneCommunicator } from "./engine/none.js";
export {
  formatMs,
  GRACE_MS,
  InterruptedError,
  type OnError,
  runCleanups,
  runSteps,
  StalledError,
  StepTimeoutError,
  withTimeout,
} from "./engine/runner.js";
export { REDACTED, SecretRegistry, secretForms } from "./engine/secrets.js";
export { COMMUNICATOR, StateBag, type StateKey, stateKey } from "./engine/state.js";
export * from "./engine/types.js";
export * from "./errors.js";
export { Deferred, isDeferred } from "./expr/deferred.js";
export { formatDocument, unifiedDiff } from "./fmt/index.js";
export {
  type ComponentRef,
  type ComponentSlot,
  checkStructure,
  type LoadedBuild,
  type LoadedBuildFile,
  type LoadedComponent,
  type LoadedSource,
  type LoadOptions,
  loadBuildFile,
  loadStructure,
  optionSchema,
  type RawFile,
  type Structure,
  walkComponents,
} from "./load/index.js";
export {
  formatPath,
  loadYamlFile,
  MAX_ALIAS_COUNT,
  MAX_FILE_BYTES,
  type PathSegment,
  parseYaml,
  positionOf,
  readYamlBytes,
  type SourceFile,
} from "./load/parse.js";
export { redactKeeping, redactWords } from "./load/redact.js";
export { maskDiagnostics, sensitiveLines } from "./load/sensitive-lines.js";
export type { ValueOrigin, VariableDecl, VariableType, VariableValue } from "./load/variables.js";
export * from "./plugin.js";
export {
  type PluginPackage,
  PluginResolver,
  parsePackageSpec,
  type ResolvedComponent,
  type ResolverOptions,
} from "./plugins/resolve.js";
export { createRuntime, loadPlugin } from "./plugins/runtime.js";
export { coreVersion } from "./plugins/version.js";
export { formatDiagnostic, formatDiagnostics } from "./report.js";
export {
  baseSchema,
  DURATION_PATTERN,
  type JsonSchema,
  KIND_KEY,
  KINDS,
  type Kind,
  NAME_PATTERN,
  POST_PROCESSOR_COMMON,
  PROVISIONER_COMMON,
  SCHEMA_ID,
} from "./schema/base.js";
export { cacheDir } from "./schema/compile.js";
export {
  type ComposedComponent,
  type ComposeOptions,
  composeSchema,
} from "./schema/compose.js";
export { applyDefaults } from "./schema/defaults.js";
export { acceptExpressions, EXPR_IN_STRING, EXPR_WHOLE } from "./schema/expressions.js";
export { compileSchema, suggest, validateValue } from "./schema/validate.js";
export { abortableSleep, abortError, messageOf, throwIfAborted } from "./util/abort.js";
export { formatBytes } from "./util/bytes.js";
export { type LongTimer, MAX_TIMER_MS, setLongTimeout } from "./util/timer.js";
