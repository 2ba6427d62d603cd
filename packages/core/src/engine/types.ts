import type { CheckpointHooks } from "./checkpoint/api.js";
import type { StateBag } from "./state.js";

/**
 * The run-time contract between the engine and plugins: what a builder, provisioner and
 * post-processor implement, and what the engine hands them.
 */

/** Raw output and messages from a component; everything ends up on the event stream. */
export interface Ui {
  /** A line about what is happening ("Starting VM..."). */
  say(message: string): void;
  /** A detail line under the last say(). */
  message(message: string): void;
  /** An error line (does not by itself fail the build). */
  error(message: string): void;
  /** Output of a remote or local command; split into whole lines before it is shown. */
  output(stream: "stdout" | "stderr", chunk: string): void;
  /** Progress of a download, upload, copy or conversion. `total` undefined when unknown. */
  progress(id: string, label: string, done: number, total?: number): void;
  /** A Ui whose lines carry this extra label, e.g. the plugin's type. */
  fork(label: string): Ui;
}

/** How a remote command ended. */
export interface ExecResult {
  /** The exit status, or null when the command ended without one (killed by a signal, connection lost). */
  exitCode: number | null;
  /** The signal that ended the command, when the server reports one (e.g. "SIGKILL"). */
  signal?: string;
  /** True when the connection dropped before an exit status and `expectDisconnect` was set. */
  disconnected?: boolean;
}

export interface ExecOptions {
  /** Standard output as it arrives (UTF-8, never split inside a character). */
  onStdout?: (chunk: string) => void;
  onStderr?: (chunk: string) => void;
  /** Cancels the command. */
  signal?: AbortSignal;
  timeoutMs?: number;
  /** Variables exported before the command runs. */
  env?: Record<string, string>;
  /** The command may drop the connection (a reboot): resolve with `disconnected: true` instead of failing. */
  expectDisconnect?: boolean;
  /**
   * The command's standard input: the stream's bytes are written to it as they come (with
   * back-pressure) and its end is the command's end-of-file. Without it the command reads
   * end-of-file at once. For tools relayed over the communicator (ansible's SSH sessions).
   */
  stdin?: NodeJS.ReadableStream;
  /** Standard output as raw bytes (undecoded, for binary protocols such as SFTP), with back-pressure; instead of onStdout. */
  stdout?: NodeJS.WritableStream;
  /** Standard error as raw bytes, with back-pressure; instead of onStderr. */
  stderr?: NodeJS.WritableStream;
}

export interface TransferOptions {
  onProgress?: (done: number, total: number) => void;
  /** Check size and sha256 after the transfer (default true). */
  verify?: boolean;
}

export interface UploadOptions extends TransferOptions {
  /** The remote file's mode; default: the local file's mode, or 0o644 for a Buffer. */
  mode?: number;
}

/** How provisioners reach the machine (SSH, or none). Implemented in @kiln/sdk. */
export interface Communicator {
  connect(signal?: AbortSignal): Promise<void>;
  exec(command: string, opts?: ExecOptions): Promise<ExecResult>;
  upload(src: string | Buffer, remotePath: string, opts?: UploadOptions): Promise<void>;
  uploadDir(localDir: string, remoteDir: string): Promise<void>;
  download(remotePath: string, localPath: string, opts?: TransferOptions): Promise<void>;
  downloadDir(remoteDir: string, localDir: string): Promise<void>;
  /** Wait for the machine to come back after it dropped the connection (a reboot). */
  reconnect?(signal?: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

/** One run: a (build, source) pair. */
export interface RunInfo {
  /** `build.type.source`, or `type.source` for an unnamed build. */
  name: string;
  build: string;
  source: string;
  type: string;
  /** One UUID for the whole `kiln build` invocation (Packer's PackerRunUUID). */
  runUuid: string;
}

/**
 * Values a run exposes to expressions as `build.*`, with Packer's key names: ID, Host, Port,
 * User, Password, SSHPublicKey, SSHPrivateKey, PackerRunUUID, PackerHTTPAddr, PackerHTTPIP,
 * PackerHTTPPort, SourceName, BuildName, BuilderType …
 */
export type BuildVars = Record<string, string | number | boolean | undefined>;

export interface RunContext {
  run: RunInfo;
  state: StateBag;
  ui: Ui;
  /** Aborted on Ctrl-C/SIGTERM, on --on-error=abort after a failure, or on a step timeout. */
  signal: AbortSignal;
  /** build.* values; builders add to it (Host, Port, ID …) as they learn them. */
  buildVars: BuildVars;
  /** Register a value (a password, a generated key) to be redacted from all output from now on. */
  secret(value: string): void;
  /**
   * `text` with every registered secret (in every form the README lists) replaced by
   * `<sensitive>`: for what a component writes to files, which the event bus does not see.
   */
  redact(text: string): string;
  /**
   * Evaluate the expressions kept for build time (`${{ build.* }}`, `${{ http.* }}`) in a value
   * from the options, with the build vars as they are now.
   */
  render<T>(value: T): T;
  /** The folder the build file is in; relative paths in options are relative to it. */
  baseDir: string;
  /** --force: existing outputs may be replaced. */
  force: boolean;
  /** Temporary files and folders that the engine removes when the run ends, however it ends. */
  tempDir(prefix?: string): Promise<string>;
}

export interface Step {
  name: string;
  run(ctx: RunContext): Promise<void>;
  /** Runs, in reverse order, for every step whose run() began — on success, failure and interrupt. */
  cleanup?(ctx: RunContext): Promise<void>;
  /** Fail the step after this long. */
  timeoutMs?: number;
}

export interface Artifact {
  /** Builder type that made it, e.g. "qemu" (Packer's builder_type). */
  builderType: string;
  /** Provider-specific id: an image id, a template id, or the files' common name. */
  id: string;
  files: string[];
  /** One line for humans. */
  description: string;
  /** Extra values for the manifest's custom data and for chained post-processors. */
  data?: Record<string, unknown>;
  /** Remove the artifact (when a post-processor consumed it and keep_input_artifact is false). */
  destroy?(): Promise<void>;
  /** The checkpoints of the run that made it (set by the engine; the manifest records them). */
  checkpoints?: ArtifactCheckpoint[];
}

/** One checkpoint of a run, as its artifact records it. */
export interface ArtifactCheckpoint {
  index: number;
  step: string;
  key: string;
  /** "restored": the run started from it (or a later one); "saved": this run saved it; "none": neither. */
  how: "restored" | "saved" | "none";
}

export interface BuildStepsContext extends RunContext {
  /** The step that runs the build's provisioners; place it after the communicator is connected. */
  provisionStep(): Step;
}

/**
 * A problem `check` finds in a component's options: the option it is about (a path into the
 * options, e.g. ["boot_command", 2]) and, for a string, the character offset in it.
 */
export interface ConfigProblem {
  option?: ReadonlyArray<string | number>;
  offset?: number;
  message: string;
  hint?: string;
  /** A warning does not stop the build or fail validate. */
  severity?: "error" | "warning";
}

/** What `check` may look at: the build file's folder, the environment. Nothing else. */
export interface CheckContext {
  /** The folder the build file is in; relative paths in options are relative to it. */
  baseDir: string;
  /** The component's type, e.g. "qemu". */
  type: string;
  env: Record<string, string | undefined>;
}

/**
 * The checks of a component's options beyond its schema, for `kiln validate` and before a build
 * starts: option relations, boot-command syntax, local files and folders that must exist. Pure:
 * no network, no processes, nothing written (reading the local file system is allowed). Every
 * problem is returned, each with the option it is about, so both commands report them at their
 * place in the file. Options kept for build time are `Deferred` markers: leave them alone.
 */
export type CheckFn<O> = (options: O, ctx: CheckContext) => ConfigProblem[] | Promise<ConfigProblem[]>;

export interface BuilderRuntime<O = Record<string, unknown>> {
  /** The checks validate runs too (see CheckFn): everything that can be found without side effects. */
  check?: CheckFn<O>;
  /**
   * Run-time preparation after `check` passed (register secrets, derive values); throw a
   * KilnError whose message starts with `[type]` for a problem only found here.
   */
  prepare?: (options: O, ctx: RunContext) => void | Promise<void>;
  steps: (options: O, ctx: BuildStepsContext) => Step[];
  /** What the run produced, once every step succeeded. */
  artifact: (options: O, ctx: RunContext) => Artifact | undefined | Promise<Artifact | undefined>;
  /**
   * The file or folder a run writes its result to, known before it runs: kiln records the
   * run's inputs beside it and tells a later run with the same inputs that it is up to date.
   */
  outputPath?: (options: O, ctx: RunContext) => string | undefined;
  /** Checkpoints: resume a machine from the first changed step (docs/checkpoints.md). */
  checkpoints?: CheckpointHooks<O>;
}

export interface ProvisionContext<O = Record<string, unknown>> extends RunContext {
  options: O;
  communicator: Communicator;
}

export interface ProvisionerRuntime<O = Record<string, unknown>> {
  /** The checks validate runs too (see CheckFn). */
  check?: CheckFn<O>;
  provision: (ctx: ProvisionContext<O>) => Promise<void>;
  /**
   * Checkpoints: the local files and folders these options upload, run or read (relative to
   * the build file's folder; their content enters the checkpoint key), or false when the step
   * cannot be repeated from what kiln sees (it waits for a person, runs on the host …). The
   * options are as written: a value known only while building is a `Deferred` marker.
   * Without this, a provisioner is never checkpointed.
   */
  checkpointInputs?: (options: O) => Array<string | { path: string; stat: true }> | false;
}

export interface PostProcessContext<O = Record<string, unknown>> extends RunContext {
  options: O;
  artifact: Artifact;
}

export interface PostProcessResult {
  artifact: Artifact;
  /** Keep the input artifact regardless of keep_input_artifact (e.g. manifest, checksum). */
  keepInput?: boolean;
}

export interface PostProcessorRuntime<O = Record<string, unknown>> {
  /** The checks validate runs too (see CheckFn). */
  check?: CheckFn<O>;
  postProcess: (ctx: PostProcessContext<O>) => Promise<PostProcessResult>;
}

/** What a data source is given: its options (defaults applied, expressions evaluated) and the means to report. */
export interface DataSourceContext<O = Record<string, unknown>> {
  /** The data source's name in the file (`data: { <name>: … }`). */
  name: string;
  options: O;
  ui: Ui;
  /** Aborted on Ctrl-C / SIGTERM. */
  signal: AbortSignal;
  /** The folder the build file is in. */
  baseDir: string;
  /** Register a value to be redacted from all output (a secret the data source reads or returns). */
  secret(value: string): void;
}

/**
 * A data source (Packer's `data` blocks): evaluated once per `kiln build`, before any run, in
 * dependency order; what `execute` returns is `${{ data.<name>.<key> }}` in sources,
 * provisioners, post-processors and other data sources.
 */
export interface DataSourceRuntime<O = Record<string, unknown>> {
  /** Checks beyond the schema (throw a KilnError whose message starts with `[type]`). */
  prepare?: (options: O) => void | Promise<void>;
  execute: (ctx: DataSourceContext<O>) => Promise<Record<string, unknown>>;
}
