/**
 * The checkpoint part of the plugin API (docs/checkpoints.md). A builder opts in with
 * `checkpoints` hooks; the engine computes the keys, looks checkpoints up, keeps the cache and
 * decides what runs. The hooks only say how *this kind of machine* is saved and brought back.
 */
import type { StateKey } from "../state.js";
import { stateKey } from "../state.js";
import type { BuildStepsContext, RunContext, Step } from "../types.js";

/** A checkpoint the engine found in the cache (or just saved), as a builder sees it. */
export interface CheckpointInfo {
  /** The key: a hash of everything that made the machine what it is at this point. */
  key: string;
  /** A random id of this very save: two saves of one key (replaced, or made by two builds) differ. */
  id: string;
  /** 0: the machine is up and connected; n: after the n-th provisioner that applies to the run. */
  index: number;
  /** What it was taken after: "connect", or a provisioner's name or type. */
  step: string;
  /** Its folder in the cache. Read only: the cache must stay as it was saved. */
  dir: string;
  /** What the builder's save() returned. */
  data: Record<string, unknown>;
  /** The checkpoint this one was taken on top of (same run, index − 1), when there is one. */
  parent?: CheckpointInfo;
  /** ISO time of the save. */
  created: string;
}

export interface CheckpointSaveContext extends RunContext {
  /** The new checkpoint's key, index and step (see CheckpointInfo). */
  key: string;
  id: string;
  index: number;
  step: string;
  /**
   * An empty folder in the cache for this checkpoint's files. It becomes `CheckpointInfo.dir`
   * when save() returns; when save() fails or is interrupted, the engine removes it.
   */
  dir: string;
  /** Where `dir` will be once the checkpoint is published (paths written into files use this). */
  finalDir: string;
  /**
   * The checkpoint of this run just before this one (saved by this run, or the one it resumed
   * from), when there is one: the base of a layered save.
   */
  previous?: CheckpointInfo;
}

/** What a builder implements to take part in checkpoints. */
export interface CheckpointHooks<O = Record<string, unknown>> {
  /** Why checkpoints cannot work with these options (e.g. a device whose state is not saved), or undefined. */
  unsupported?(options: O): string | undefined;
  /**
   * The options that shape the machine, for the key. Leave out what only names or places the
   * output, or only changes how kiln reaches the machine. Default: every option.
   */
  machineOptions?(options: O): Record<string, unknown>;
  /**
   * Local files and folders the machine is made from (served over HTTP, put on a CD …): their
   * content enters the first checkpoint's key. `stat` entries enter by size and time only
   * (large images whose checksum is not given). Paths are relative to the build file's folder.
   * False when they are known only while building: then nothing is checkpointed.
   */
  inputFiles?(options: O): Array<string | { path: string; stat: true }> | false;
  /**
   * Save the machine, which is up and connected, into `ctx.dir`; it must run on unchanged
   * afterwards, for the build goes on. Returns what restoring needs (plain JSON, no secrets).
   */
  save(options: O, ctx: CheckpointSaveContext): Promise<Record<string, unknown>>;
  /**
   * Whether `point` can be restored here, before anything starts (the hypervisor's version, a
   * snapshot that is still there …): a reason when not. Files the engine checks itself.
   */
  check?(options: O, point: CheckpointInfo, ctx: RunContext): Promise<string | undefined>;
  /**
   * The steps that bring the machine back from `point`, up and connected, in place of every
   * step before `provisionStep()`. A checkpoint that turns out unusable while they run is
   * reported with `CheckpointUnusableError`: the engine cleans up and runs from an earlier one.
   */
  resume(options: O, ctx: BuildStepsContext, point: CheckpointInfo): Step[];
  /**
   * Remove what a checkpoint holds outside its folder (a hypervisor snapshot, a cloud image)
   * when the cache drops it. Not needed when everything is in the folder.
   */
  discard?(data: Record<string, unknown>, ctx: { signal: AbortSignal }): Promise<void>;
}

/**
 * The engine's checkpoint session of a run, in the state while checkpoints are on: `scratch`
 * is a folder on the cache's file system for files that may become part of a checkpoint
 * (a builder that writes its working disk there can link it into a checkpoint, not copy it).
 */
export interface CheckpointSession {
  scratch: string;
  /** Set while resuming: the checkpoint the run started from. */
  resumed?: CheckpointInfo;
}
export const CHECKPOINTS: StateKey<CheckpointSession> = stateKey<CheckpointSession>("kiln.checkpoints");
