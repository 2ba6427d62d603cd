/**
 * Checkpoints in one run: before anything starts, the keys and the up-to-date check; then
 * which checkpoint to resume from (the longest unchanged prefix that can be restored), and,
 * while the run goes on, saving a checkpoint after the machine is up and after each
 * provisioner. The builder's hooks only save and bring back; this module decides.
 */
import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import type { LoadedComponent } from "../../load/index.js";
import type { ResolvedComponent } from "../../plugins/resolve.js";
import { coreVersion } from "../../plugins/version.js";
import { messageOf } from "../../util/abort.js";
import type { EventBus } from "../events.js";
import { withTimeout } from "../runner.js";
import type {
  Artifact,
  ArtifactCheckpoint,
  BuilderRuntime,
  ProvisionerRuntime,
  RunContext,
} from "../types.js";
import { CHECKPOINTS, type CheckpointHooks, type CheckpointInfo } from "./api.js";
import { canonicalValue, digest, type ValueScope } from "./hash.js";
import { describeChange, type KeyPart, type PlannedKey, planKeys } from "./keys.js";
import { quickDigest, writePointer } from "./quick.js";
import {
  type OutputRecord,
  readRecord,
  recordArtifacts,
  recordPath,
  staleReason,
  writeRecord,
} from "./record.js";
import { CheckpointStore, defaultCacheDir } from "./store.js";

export interface CheckpointSettings {
  /** kiln's cache folder (checkpoints go to its `checkpoints/`); default $KILN_CACHE_DIR, $XDG_CACHE_HOME/kiln, ~/.cache/kiln. */
  cacheDir?: string;
  /** Neither restore nor save checkpoints. */
  noCache?: boolean;
}

export interface PlannedProvisioner {
  component: LoadedComponent;
  plugin: ResolvedComponent;
  runtime: ProvisionerRuntime;
  label: string;
  /** Its options as the plugin gets them, before build-time values are filled in. */
  options: Record<string, unknown>;
}

export interface RunPlanInit {
  bus: EventBus;
  ctx: RunContext;
  buildFile: string;
  builder: BuilderRuntime;
  builderPlugin: ResolvedComponent;
  /** The builder's options, defaults applied. */
  options: Record<string, unknown>;
  /** The provisioners that apply to this run, in order. */
  provisioners: PlannedProvisioner[];
  /** The post-processors that apply to this run: type, plugin and own options, per chain. */
  postProcessors: Array<Array<{ type: string; plugin: string; options: Record<string, unknown> }>>;
  scope: Omit<ValueScope, "salt">;
  settings: CheckpointSettings;
  force: boolean;
  graceMs?: number;
  /** Digest of the options as written (quick.ts), recorded for the next run's quick check. */
  quick?: () => Promise<string | undefined>;
}

/** What checkpoints mean for one run. Made once per run by `planRun`. */
export class RunPlan {
  private constructor(
    private readonly init: RunPlanInit,
    readonly keys: PlannedKey[],
    readonly hooks: CheckpointHooks<Record<string, unknown>> | undefined,
    readonly store: CheckpointStore | undefined,
    /** Why no checkpoint is restored or saved in this run. */
    readonly off: string | undefined,
    readonly output: string | undefined,
    /** Digest of every input, when the run can be up to date at all. */
    readonly inputs: string | undefined,
    private readonly outputDigest: string,
  ) {}

  static async create(init: RunPlanInit): Promise<RunPlan> {
    const { builder, options, ctx } = init;
    const hooks = builder.checkpoints;
    let off: string | undefined;
    if (!hooks) off = `the ${ctx.run.type} builder does not support checkpoints`;
    else if (init.settings.noCache) off = "--no-cache";
    else off = hooks.unsupported?.(options);
    const output = builder.outputPath?.(options, ctx);
    // The salt lives in the cache; without a cache (--no-cache, no hooks) keys are only compared
    // with the record beside the output, so a salt of the output's folder is not needed: use one
    // fixed per process (secrets then still enter only as HMACs).
    let store: CheckpointStore | undefined;
    if (!off || output) {
      try {
        store = await CheckpointStore.open(init.settings.cacheDir ?? defaultCacheDir(init.scope.env));
      } catch (e) {
        if (!off) throw e;
      }
    }
    const salt = store?.salt ?? Buffer.from(digest({ pid: process.pid, t: Date.now() }), "hex");
    const scope: ValueScope = { ...init.scope, salt };
    const plugin = (p: ResolvedComponent) => `${p.pkg.name}@${p.pkg.version}`;
    const builderFiles = hooks?.inputFiles?.(options) ?? [];
    const builderPart: KeyPart = {
      step: "connect",
      type: ctx.run.type,
      plugin: plugin(init.builderPlugin),
      options: hooks?.machineOptions?.(options) ?? options,
      files: builderFiles === false ? [] : builderFiles,
      ...(builderFiles === false
        ? { uncacheable: `the ${ctx.run.type} builder's files are known only while building` }
        : {}),
    };
    const parts: KeyPart[] = init.provisioners.map((p) => {
      let files: KeyPart["files"] = false;
      let uncacheable: string | undefined;
      if (p.component.options.cache === false) uncacheable = "cache: false";
      else {
        const declared = p.runtime.checkpointInputs?.(p.options);
        if (Array.isArray(declared)) files = declared;
        else if (declared === false)
          uncacheable = `the ${p.component.type} provisioner cannot be repeated from what kiln sees`;
      }
      return {
        step: p.label,
        type: p.component.type,
        plugin: plugin(p.plugin),
        options: p.options,
        files,
        ...(uncacheable ? { uncacheable } : {}),
      };
    });
    const keys = await planKeys({
      kiln: coreVersion(),
      builder: builderPart,
      provisioners: parts,
      scope,
      baseDir: ctx.baseDir,
    });
    if (!off && keys.every((k) => k.uncacheable)) off = keys[0]?.uncacheable;
    const outputDigest = digest(
      canonicalValue({ builder: options, postProcessors: init.postProcessors }, scope).value,
    );
    const last = keys[keys.length - 1] as PlannedKey;
    const inputs =
      output && !last.uncacheable
        ? digest({ kiln: coreVersion(), last: last.key, output: outputDigest })
        : undefined;
    return new RunPlan(init, keys, hooks, off ? undefined : store, off, output, inputs, outputDigest);
  }

  /**
   * The record that makes this run up to date, or undefined; says why not when the output
   * is there but was made from other inputs.
   */
  async upToDate(): Promise<OutputRecord | undefined> {
    const { ctx, force } = this.init;
    if (!this.output) return undefined;
    const last = this.keys[this.keys.length - 1] as PlannedKey;
    const record = await readRecord(this.output);
    if (!this.inputs) {
      if (record) ctx.ui.message(`Not checked for up to date: ${last.uncacheable}`);
      return undefined;
    }
    const stale = await staleReason(record, this.inputs);
    if (!stale) {
      if (!force) return record;
      ctx.ui.say("Up to date, but rebuilding it (--force)");
      return undefined;
    }
    if (record) {
      const changed =
        this.keys.map((k, i) => describeChange(record.steps[i], k.inputs)).find((d) => d !== undefined) ??
        (record.steps.length > this.keys.length
          ? `${record.steps.length - this.keys.length} provisioner(s) fewer`
          : record.output !== this.outputDigest
            ? "the builder's or post-processors' other options changed"
            : stale);
      ctx.ui.say(`Not up to date: ${changed}`);
    }
    return undefined;
  }

  /** Say that nothing runs. */
  reportUpToDate(record: OutputRecord): void {
    reportUpToDate(this.init.bus, this.init.ctx, this.output as string, record);
  }

  /** Checkpoints to resume from, the longest prefix first; a found but unusable one is a warning. */
  async candidates(): Promise<CheckpointInfo[]> {
    const { bus, ctx, options } = this.init;
    if (this.off || !this.store || !this.hooks) {
      if (this.hooks && this.off)
        bus.emit({
          type: "checkpoint",
          time: Date.now(),
          run: ctx.run.name,
          action: "off",
          index: 0,
          step: "connect",
          reason: this.off,
        });
      return [];
    }
    const out: CheckpointInfo[] = [];
    for (const k of [...this.keys].reverse()) {
      if (k.uncacheable) continue;
      const found = await this.store.find(k.key);
      let why = typeof found === "string" ? found : undefined;
      if (found && typeof found !== "string") {
        why = await this.hooks.check?.(options, found, ctx).catch((e: unknown) => messageOf(e));
        if (!why) out.push(found);
      }
      if (why) this.unusable(k, why);
    }
    return out;
  }

  /** Keys found unusable in this run: a new save of one replaces it. */
  readonly unusableKeys = new Set<string>();

  unusable(k: Pick<PlannedKey, "index" | "step" | "key">, reason: string): void {
    const { bus, ctx } = this.init;
    this.unusableKeys.add(k.key);
    bus.emit({
      type: "checkpoint",
      time: Date.now(),
      run: ctx.run.name,
      action: "unusable",
      index: k.index,
      step: k.step,
      key: k.key,
      reason,
    });
  }

  /** One attempt at the run: from `point`, or from the start. */
  attempt(point: CheckpointInfo | undefined): Attempt {
    return new Attempt(this.init, this, point);
  }

  /** Write the record beside the output once the run succeeded. */
  async record(artifacts: Artifact[], builderArtifact: Artifact): Promise<void> {
    if (!this.output || !this.inputs) return;
    const quick = await this.init.quick?.();
    const record: OutputRecord = {
      version: 1,
      run: this.init.ctx.run.name,
      inputs: this.inputs,
      steps: this.keys.map((k) => k.inputs),
      output: this.outputDigest,
      keys: this.keys.map((k) => k.key),
      artifacts: await recordArtifacts(artifacts, builderArtifact),
      created: new Date().toISOString(),
      ...(quick ? { quick } : {}),
    };
    try {
      await writeRecord(this.output, record, (t) => this.init.ctx.redact(t));
      if (quick) await writePointer(this.init.ctx.baseDir, this.init.ctx.run.name, quick, this.output);
    } catch (e) {
      this.init.bus.emit({
        type: "warning",
        time: Date.now(),
        run: this.init.ctx.run.name,
        text: `cannot record the inputs beside ${this.output} (${messageOf(e)}): the next build will not know it is up to date`,
      });
    }
  }
}

/** The checkpoint side of one attempt: scratch folder, skipping what was restored, saving. */
export class Attempt {
  private saving: boolean;
  private previous: CheckpointInfo | undefined;
  private readonly saved = new Set<number>();
  private scratch: string | undefined;
  /** Saves another build published first: kept aside until the run ends. */
  private readonly aside: string[] = [];
  /** Set once the provisioners begin: a failure after that is the build's, not the checkpoint's. */
  provisioning = false;

  constructor(
    private readonly init: RunPlanInit,
    private readonly plan: RunPlan,
    readonly point: CheckpointInfo | undefined,
  ) {
    this.saving = !plan.off && !!plan.store && !!plan.hooks;
    this.previous = point;
  }

  /** Before the steps: the scratch folder and the session in the state; say what is restored. */
  async begin(ctx: RunContext): Promise<void> {
    const store = this.plan.store;
    if (!store || this.plan.off) return;
    this.scratch = await store.temp("scratch");
    ctx.state.put(CHECKPOINTS, { scratch: this.scratch, ...(this.point ? { resumed: this.point } : {}) });
    const p = this.point;
    if (!p) return;
    await store.touch(p);
    this.init.bus.emit({
      type: "checkpoint",
      time: Date.now(),
      run: ctx.run.name,
      action: "restored",
      index: p.index,
      step: p.step,
      key: p.key,
      dir: p.dir,
      skipped: this.plan.keys.slice(0, p.index + 1).map((k) => k.step),
    });
  }

  /** After the steps (their cleanups have run): remove the scratch folder. */
  async end(): Promise<void> {
    for (const d of [this.scratch, ...this.aside.splice(0)])
      if (d) await rm(d, { recursive: true, force: true });
    this.scratch = undefined;
  }

  /** True for the provisioners (1-based index) the restored checkpoint already holds. */
  restored(index: number): boolean {
    return this.point !== undefined && index <= this.point.index;
  }

  /** This run saves no more checkpoints from `index` on, and says why. */
  private stopSaving(ctx: RunContext, index: number, step: string, reason: string): void {
    this.saving = false;
    this.init.bus.emit({
      type: "checkpoint",
      time: Date.now(),
      run: ctx.run.name,
      action: "off",
      index,
      step,
      reason,
    });
  }

  /** Save checkpoint `index` when it should be: it is cacheable and not restored. */
  async save(index: number, ctx: RunContext): Promise<void> {
    const { bus, options, buildFile, graceMs } = this.init;
    const store = this.plan.store;
    const hooks = this.plan.hooks;
    const k = this.plan.keys[index];
    if (!this.saving || !store || !hooks || !k || this.restored(index)) return;
    if (k.uncacheable) {
      this.stopSaving(ctx, index, k.step, k.uncacheable);
      return;
    }
    const id = randomBytes(8).toString("hex");
    const partial = await store.temp("partial");
    const t0 = Date.now();
    bus.emit({
      type: "checkpoint",
      time: t0,
      run: ctx.run.name,
      action: "saving",
      index,
      step: k.step,
      key: k.key,
    });
    try {
      const data = await withTimeout(
        `checkpoint after ${k.step}`,
        ctx.signal,
        undefined,
        (signal) =>
          hooks.save(options, {
            ...ctx,
            signal,
            key: k.key,
            id,
            index,
            step: k.step,
            dir: partial,
            finalDir: store.pathOf(k.key),
            ...(this.previous ? { previous: this.previous } : {}),
          }),
        graceMs,
      );
      if (ctx.signal.aborted) throw ctx.signal.reason;
      const entry = await store.publish(
        partial,
        {
          version: 1,
          key: k.key,
          id,
          index,
          step: k.step,
          run: ctx.run.name,
          buildFile,
          builder: ctx.run.type,
          plugin: `${this.init.builderPlugin.pkg.name}@${this.init.builderPlugin.pkg.version}`,
          created: new Date().toISOString(),
          parent: this.previous ? { key: this.previous.key, id: this.previous.id } : null,
          inputs: k.inputs,
          data,
          ...(hooks.discard ? { external: true } : {}),
        },
        this.plan.unusableKeys.has(k.key),
      );
      if (!entry.published) {
        // Another build saved this key meanwhile: its checkpoint stays; this run's chain is its own.
        this.aside.push(entry.dir);
        this.stopSaving(
          ctx,
          index,
          k.step,
          "another build saved this checkpoint meanwhile; that one is kept",
        );
        return;
      }
      this.previous = {
        key: k.key,
        id,
        index,
        step: k.step,
        dir: entry.dir,
        data,
        created: entry.meta.created,
        ...(this.previous ? { parent: this.previous } : {}),
      };
      this.saved.add(index);
      bus.emit({
        type: "checkpoint",
        time: Date.now(),
        run: ctx.run.name,
        action: "saved",
        index,
        step: k.step,
        key: k.key,
        dir: entry.dir,
        bytes: entry.meta.size,
        durationMs: Date.now() - t0,
      });
    } catch (e) {
      await rm(partial, { recursive: true, force: true });
      if (ctx.signal.aborted) throw e;
      // The machine runs on; only this and later checkpoints are lost.
      this.saving = false;
      bus.emit({
        type: "warning",
        time: Date.now(),
        run: ctx.run.name,
        text: `checkpoint after ${k.step} not saved (${messageOf(e)}); the build goes on without checkpoints`,
      });
    }
  }

  /** The run's checkpoints, for its artifact (and the manifest). */
  artifactCheckpoints(): ArtifactCheckpoint[] | undefined {
    if (this.plan.off) return undefined;
    return this.plan.keys
      .filter((k) => !k.uncacheable)
      .map((k) => ({
        index: k.index,
        step: k.step,
        key: k.key,
        how: this.restored(k.index) ? "restored" : this.saved.has(k.index) ? "saved" : "none",
      }));
  }
}

/** Say that nothing runs: the output is up to date. */
export function reportUpToDate(bus: EventBus, ctx: RunContext, output: string, record: OutputRecord): void {
  ctx.ui.say(
    `Up to date: ${output} was built from these inputs (${record.created}); kiln build --force rebuilds it`,
  );
  bus.emit({ type: "up-to-date", time: Date.now(), run: ctx.run.name, output, record: recordPath(output) });
}

/**
 * The digest of a run's options as written, for the up-to-date check before plugin code is
 * loaded (quick.ts); undefined when the cache (its salt) cannot be opened or a value is volatile.
 */
export async function quickInputs(
  settings: CheckpointSettings,
  scope: Omit<ValueScope, "salt">,
  baseDir: string,
  components: unknown,
): Promise<string | undefined> {
  let store: CheckpointStore;
  try {
    store = await CheckpointStore.open(settings.cacheDir ?? defaultCacheDir(scope.env));
  } catch {
    return undefined;
  }
  return quickDigest({ kiln: coreVersion(), baseDir, components }, { ...scope, salt: store.salt });
}
