/**
 * `kiln build`: expand builds × sources into named runs, run them (up to N at once), each with
 * its builder's steps, the build's provisioners and its post-processor chains.
 */

import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { parseDuration } from "../duration.js";
import { type Diagnostic, isKilnError, KilnError } from "../errors.js";
import { isDeferred } from "../expr/index.js";
import { type LoadedBuildFile, type LoadedComponent, optionSchema } from "../load/index.js";
import { formatPath, positionOf } from "../load/parse.js";
import { createRuntime } from "../plugins/runtime.js";
import { applyDefaults } from "../schema/defaults.js";
import { validateValue } from "../schema/validate.js";
import { abortableSleep, messageOf } from "../util/abort.js";
import { checkComponents } from "./check.js";
import { CHECKPOINT_UNUSABLE } from "./checkpoint/errors.js";
import { pointerPath, quickUpToDate } from "./checkpoint/quick.js";
import { artifactsOf } from "./checkpoint/record.js";
import {
  type Attempt,
  type CheckpointSettings,
  type PlannedProvisioner,
  quickInputs,
  RunPlan,
  reportUpToDate,
} from "./checkpoint/run.js";
import { createRunContext } from "./context.js";
import { withinRun } from "./crash.js";
import { type DataValues, evaluateDataSources } from "./data.js";
import type { EventBus } from "./events.js";
import { checkHttpAvailable } from "./http-refs.js";
import { NoneCommunicator } from "./none.js";
import { GRACE_MS, InterruptedError, type OnError, runSteps, withTimeout } from "./runner.js";
import { SecretRegistry } from "./secrets.js";
import { COMMUNICATOR, StateBag } from "./state.js";
import type {
  Artifact,
  BuilderRuntime,
  Communicator,
  PostProcessorRuntime,
  ProvisionerRuntime,
  RunContext,
  RunInfo,
  Step,
} from "./types.js";

export interface BuildOptions {
  loaded: LoadedBuildFile;
  bus: EventBus;
  /** Globs over run names (`build.type.source`); a run is kept when any matches. */
  only?: string[];
  except?: string[];
  /** Runs at once; 0 = all. */
  parallel?: number;
  force?: boolean;
  onError?: OnError;
  debug?: boolean;
  prompt?: (question: string) => Promise<string>;
  /** Aborted on Ctrl-C / SIGTERM. */
  signal: AbortSignal;
  /**
   * Aborted on a second Ctrl-C: stops cleanup work that can be stopped (the
   * error-cleanup-provisioner). Cleanups of steps still run to the end.
   */
  hardSignal?: AbortSignal;
  /** How long work that ignores its abort signal is waited for; default GRACE_MS. */
  graceMs?: number;
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Checkpoints and the cache (docs/checkpoints.md): --cache-dir, --no-cache. */
  cache?: CheckpointSettings;
}

export interface PlannedRun {
  info: RunInfo;
  buildIndex: number;
}

export interface RunResult {
  run: string;
  ok: boolean;
  artifacts: Artifact[];
  error?: unknown;
}

export interface BuildResult {
  ok: boolean;
  runUuid: string;
  runs: RunResult[];
}

function globToRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${body}$`);
}

function matches(run: RunInfo, globs: string[]): boolean {
  const names = [run.name, `${run.type}.${run.source}`, run.source];
  return globs.some((g) => {
    const re = globToRegExp(g);
    return names.some((n) => re.test(n));
  });
}

/**
 * Every run of the file, in order, after --only/--except. Two runs with one name (a source
 * listed twice, or two unnamed builds of one source) are refused with their positions: they
 * would share a log, a state and an output.
 */
export function planRuns(
  loaded: LoadedBuildFile,
  opts: { only?: string[]; except?: string[]; runUuid?: string } = {},
): PlannedRun[] {
  const runUuid = opts.runUuid ?? randomUUID();
  const out: PlannedRun[] = [];
  const seen = new Map<string, string>();
  const dupes: Diagnostic[] = [];
  loaded.builds.forEach((b, buildIndex) => {
    b.sources.forEach((s, j) => {
      const type = (b.variants?.[s] ?? loaded.sources[s])?.type ?? "unknown";
      const name = b.name ? `${b.name}.${type}.${s}` : `${type}.${s}`;
      const path = ["builds", b.index, "sources", j];
      const prev = seen.get(name);
      if (prev !== undefined) {
        dupes.push({
          code: "KILN_DUPLICATE_NAME",
          severity: "error",
          message: `the run "${name}" is planned twice (also by ${prev})`,
          path: formatPath(path),
          pos: positionOf(loaded.src, path),
          hint: "List each source once per build, and give builds that share a source a name each.",
        });
        return;
      }
      seen.set(name, formatPath(path));
      const info: RunInfo = { name, build: b.name, source: s, type, runUuid };
      if (opts.only?.length && !matches(info, opts.only)) return;
      if (opts.except?.length && matches(info, opts.except)) return;
      out.push({ info, buildIndex });
    });
  });
  if (dupes.length)
    throw new KilnError("KILN_DUPLICATE_NAME", dupes[0]?.message ?? "run planned twice", {
      diagnostics: dupes,
    });
  return out;
}

/** --only / --except that leave nothing to run are a mistake, not a successful build. */
function checkSelection(loaded: LoadedBuildFile, plan: PlannedRun[], opts: BuildOptions): void {
  const only = opts.only ?? [];
  const except = opts.except ?? [];
  if (plan.length > 0 || (only.length === 0 && except.length === 0)) return;
  const all = planRuns(loaded).map((p) => p.info.name);
  const flags = [
    ...(only.length ? [`--only ${only.join(",")}`] : []),
    ...(except.length ? [`--except ${except.join(",")}`] : []),
  ].join(" ");
  throw new KilnError("KILN_NO_RUNS", `${flags} leaves no run to build`, {
    hint: `The runs of this file: ${all.join(", ") || "(none)"}. --only and --except match run names (build.type.source), type.source or source names; * and ? are wildcards.`,
  });
}

/** Run every planned run; never throws for a failed run (see the result), only for misuse. */
export async function runBuild(opts: BuildOptions): Promise<BuildResult> {
  const { loaded, bus } = opts;
  const runUuid = randomUUID();
  const plan = planRuns(loaded, {
    ...(opts.only ? { only: opts.only } : {}),
    ...(opts.except ? { except: opts.except } : {}),
    runUuid,
  });
  checkSelection(loaded, plan, opts);
  for (const s of loaded.secrets) bus.secrets.add(s);
  const t0 = Date.now();
  bus.emit({ type: "build-start", time: t0, runs: plan.map((p) => p.info.name), runUuid });
  let data: DataValues = {};
  if (Object.keys(loaded.data).length) {
    try {
      data = await evaluateDataSources({
        loaded,
        bus,
        signal: opts.signal,
        runUuid,
        ...(opts.env ? { env: opts.env } : {}),
        ...(opts.cwd ? { cwd: opts.cwd } : {}),
        ...(opts.graceMs !== undefined ? { graceMs: opts.graceMs } : {}),
      });
    } catch (e) {
      bus.emit({
        type: "build-end",
        time: Date.now(),
        ok: false,
        durationMs: Date.now() - t0,
        failed: plan.map((p) => p.info.name),
      });
      throw e;
    }
  }
  const keySecrets = secretsBeforeRuns(loaded, data, bus);
  const limit = opts.parallel && opts.parallel > 0 ? opts.parallel : plan.length || 1;
  const results: RunResult[] = new Array(plan.length);
  let next = 0;
  const worker = async () => {
    while (next < plan.length) {
      const i = next++;
      const p = plan[i] as PlannedRun;
      results[i] = await runOne(p, opts, data, keySecrets);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, plan.length) }, worker));
  const failed = results.filter((r) => !r.ok).map((r) => r.run);
  bus.emit({
    type: "build-end",
    time: Date.now(),
    ok: failed.length === 0,
    durationMs: Date.now() - t0,
    failed,
  });
  return { ok: failed.length === 0, runUuid, runs: results };
}

/**
 * The secrets known before any run starts (the build file's, and the data sources' values that
 * are secret): what checkpoint keys hash as secrets, so a key never depends on what another
 * run registered first.
 */
function secretsBeforeRuns(loaded: LoadedBuildFile, data: DataValues, bus: EventBus): SecretRegistry {
  const known = new SecretRegistry();
  for (const x of loaded.secrets) known.add(x);
  const walk = (v: unknown): void => {
    if (typeof v === "string") {
      if (bus.secrets.redact(v) !== v) known.add(v);
    } else if (Array.isArray(v)) for (const x of v) walk(x);
    else if (v && typeof v === "object") for (const x of Object.values(v)) walk(x);
  };
  walk(data);
  return known;
}

function runOne(
  p: PlannedRun,
  opts: BuildOptions,
  data: DataValues,
  keySecrets: SecretRegistry,
): Promise<RunResult> {
  const ctl = new AbortController();
  const ui = opts.bus.ui(p.info.name);
  // An error plugin code throws where nothing awaits it fails this run (see crash.ts).
  const fail = (err: KilnError) => {
    ui.error(err.message);
    if (!ctl.signal.aborted) ctl.abort(err);
  };
  return withinRun(fail, () => runInContext(p, opts, ctl, data, keySecrets));
}

async function runInContext(
  p: PlannedRun,
  opts: BuildOptions,
  ctl: AbortController,
  data: DataValues,
  keySecrets: SecretRegistry,
): Promise<RunResult> {
  const { loaded, bus } = opts;
  const { info } = p;
  const build = loaded.builds[p.buildIndex];
  const source = build?.variants?.[info.source] ?? loaded.sources[info.source];
  const t0 = Date.now();
  bus.emit({ type: "run-start", time: t0, run: info.name });
  const ui = bus.ui(info.name);
  const onAbort = () => ctl.abort(opts.signal.reason);
  if (opts.signal.aborted) ctl.abort(opts.signal.reason);
  opts.signal.addEventListener("abort", onAbort, { once: true });
  const { ctx, dispose, resolveKnown } = createRunContext({
    run: info,
    ui,
    signal: ctl.signal,
    baseDir: loaded.dir,
    force: opts.force === true,
    secret: (v) => bus.secrets.add(v),
    redact: (t) => bus.secrets.redact(t),
    variables: Object.fromEntries(Object.entries(loaded.variables).map(([k, v]) => [k, v.value])),
    locals: loaded.locals,
    env: opts.env ?? process.env,
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
    data,
  });
  const artifacts: Artifact[] = [];
  // Plugin code outside the steps (loading, prepare, artifact, post-processors) is abandoned like
  // a step's when the run is stopped and it does not settle.
  const guarded = <T>(what: string, fn: (signal: AbortSignal) => T | Promise<T>): Promise<T> =>
    withTimeout(what, ctl.signal, undefined, async (signal) => fn(signal), opts.graceMs);
  try {
    if (!build || !source?.plugin)
      throw new KilnError("KILN_INTERNAL", `run ${info.name} has no resolved builder`);
    const plugin = source.plugin;
    const scope = {
      isSecret: (t: string) => keySecrets.redact(t) !== t,
      variables: Object.fromEntries(Object.entries(loaded.variables).map(([k, v]) => [k, v.value])),
      locals: loaded.locals,
      env: opts.env ?? process.env,
      cwd: opts.cwd ?? process.cwd(),
    };
    const postProcessors = build.postProcessors.map((chain) =>
      chain
        .filter((pp) => applies(pp, info))
        .map((pp) => ({ type: pp.type, plugin: versionOf(pp), options: postProcessorOptions(pp) })),
    );
    // Up to date, checked before any plugin code is loaded (quick.ts); the full check follows otherwise.
    // (data source values as they came: a key takes them in, not the expressions that read them)
    const components = resolveKnown({
      builder: { type: source.type, plugin: versionOf(source), options: source.options },
      provisioners: build.provisioners
        .filter((p) => applies(p, info))
        .map((p) => ({ type: p.type, plugin: versionOf(p), options: p.options })),
      postProcessors,
    });
    let quickDigest: Promise<string | undefined> | undefined;
    const quick = () => {
      quickDigest ??= quickInputs(opts.cache ?? {}, scope, loaded.dir, components);
      return quickDigest;
    };
    const fast =
      !opts.force && existsSync(pointerPath(loaded.dir, info.name))
        ? await guarded("checking the output", async () => {
            const q = await quick();
            return q ? quickUpToDate(loaded.dir, info.name, q) : undefined;
          })
        : undefined;
    if (fast) {
      reportUpToDate(bus, ctx, fast.output, fast.record);
      for (const a of artifactsOf(fast.record)) {
        artifacts.push(a);
        emitArtifact(bus, info.name, a);
      }
      bus.emit({ type: "run-end", time: Date.now(), run: info.name, ok: true, durationMs: Date.now() - t0 });
      return { run: info.name, ok: true, artifacts };
    }
    const builder = await guarded(`loading ${plugin.pkg.name}`, () => createRuntime<BuilderRuntime>(plugin));
    const options = applyDefaults(source.plugin.schema, knownOptions(source, resolveKnown, loaded));
    // The components' own checks (as validate runs them), before anything starts: a missing
    // script or a boot-command typo fails here, at its place in the file, not after the boot.
    const problems = (
      await guarded("checking the options", () =>
        checkComponents(loaded, {
          env: opts.env ?? process.env,
          runs: [{ buildIndex: p.buildIndex, source: info.source }],
        }),
      )
    ).filter((d) => d.severity === "error");
    if (problems.length > 0) throw configError(problems);
    await guarded("prepare", (signal) => builder.prepare?.(options, { ...ctx, signal }));
    const provisioners = await guarded("loading the provisioners", () =>
      planProvisioners(build.provisioners, info, resolveKnown),
    );
    const plan = await guarded("checking the cache", () =>
      RunPlan.create({
        bus,
        ctx,
        buildFile: loaded.file,
        builder,
        builderPlugin: plugin,
        options,
        provisioners,
        postProcessors,
        scope,
        settings: opts.cache ?? {},
        quick,
        force: opts.force === true,
        ...(opts.graceMs !== undefined ? { graceMs: opts.graceMs } : {}),
      }),
    );
    const upToDate = await guarded("checking the output", () => plan.upToDate());
    if (upToDate) {
      plan.reportUpToDate(upToDate);
      for (const a of artifactsOf(upToDate)) {
        artifacts.push(a);
        emitArtifact(bus, info.name, a);
      }
      bus.emit({ type: "run-end", time: Date.now(), run: info.name, ok: true, durationMs: Date.now() - t0 });
      return { run: info.name, ok: true, artifacts };
    }
    const candidates = await guarded("looking up checkpoints", () => plan.candidates());
    const initialVars = { ...ctx.buildVars };
    let attempt: Attempt;
    for (;;) {
      const point = candidates.shift();
      attempt = plan.attempt(point);
      // Each attempt starts from a clean state: an abandoned resume leaves nothing behind.
      ctx.state = new StateBag();
      for (const k of Object.keys(ctx.buildVars)) delete ctx.buildVars[k];
      Object.assign(ctx.buildVars, initialVars);
      const current = attempt;
      const provisionStep: Step = {
        name: "provision",
        run: (c) => provisionAll(provisioners, build.errorCleanupProvisioner, c, opts, current),
      };
      const stepsCtx = { ...ctx, provisionStep: () => provisionStep };
      let steps = builder.steps(options, stepsCtx);
      if (point && plan.hooks) {
        const at = steps.indexOf(provisionStep);
        steps = [...plan.hooks.resume(options, stepsCtx, point), ...steps.slice(at)];
      }
      try {
        await attempt.begin(ctx);
        await runSteps(steps, ctx, {
          bus,
          onError: opts.onError ?? "cleanup",
          ...(opts.debug ? { debug: true } : {}),
          ...(opts.prompt ? { prompt: opts.prompt } : {}),
          ...(opts.graceMs !== undefined ? { graceMs: opts.graceMs } : {}),
        });
        break;
      } catch (err) {
        if (!point || attempt.provisioning || ctl.signal.aborted || !isKilnError(err, CHECKPOINT_UNUSABLE))
          throw err;
        plan.unusable(point, messageOf(err));
      } finally {
        await attempt.end();
      }
    }
    const artifact = await guarded("artifact", (signal) => builder.artifact(options, { ...ctx, signal }));
    if (artifact) {
      const checkpoints = attempt.artifactCheckpoints();
      if (checkpoints) artifact.checkpoints = checkpoints;
      artifacts.push(artifact);
      emitArtifact(bus, info.name, artifact);
      artifacts.push(...(await postProcess(artifact, build.postProcessors, ctx, opts)));
      await plan.record(artifacts, artifact);
    }
    bus.emit({ type: "run-end", time: Date.now(), run: info.name, ok: true, durationMs: Date.now() - t0 });
    return { run: info.name, ok: true, artifacts };
  } catch (err) {
    bus.flush(info.name);
    const interrupted = ctl.signal.aborted;
    // What stopped the run is its error: a crash or stall (a KilnError reason), else an interrupt.
    const reason: unknown = ctl.signal.reason;
    const e = !interrupted
      ? err
      : isKilnError(reason)
        ? reason
        : isKilnError(err)
          ? err
          : new InterruptedError();
    bus.emit({
      type: "run-end",
      time: Date.now(),
      run: info.name,
      ok: false,
      durationMs: Date.now() - t0,
      error: messageOf(e),
      ...(isKilnError(e) ? { code: e.code } : {}),
    });
    return { run: info.name, ok: false, artifacts, error: e };
  } finally {
    bus.flush(info.name);
    opts.signal.removeEventListener("abort", onAbort);
    await dispose();
  }
}

/**
 * A source's options with what is known before the run evaluated (data sources' values …), and
 * checked against the builder's schema again where a data source gave the value: the loader could
 * not check those.
 */
function knownOptions(
  source: LoadedComponent,
  resolveKnown: <T>(v: T) => T,
  loaded: LoadedBuildFile,
): Record<string, unknown> {
  const known = resolveKnown(source.options);
  const readsData = source.deferred.some((p) => !isDeferred(valueAt(known, p)));
  if (readsData && source.plugin) {
    const diags = validateValue(optionSchema("builder", source.plugin.schema), known, loaded.src, {
      basePath: source.path,
      deferred: (p) => isDeferred(valueAt(known, p)),
      what: `${source.type} option`,
    });
    const errors = diags.filter((d) => d.severity === "error");
    if (errors.length)
      throw new KilnError(
        "KILN_DATA_VALUE",
        `a data source gave ${source.type} a value it refuses: ${errors[0]?.message}`,
        {
          diagnostics: errors,
          hint: "Check what the data source returns (kiln inspect lists the data sources) and the option's type.",
        },
      );
  }
  return known;
}

function valueAt(v: unknown, path: readonly (string | number)[]): unknown {
  let cur = v;
  for (const seg of path)
    cur = cur && typeof cur === "object" ? (cur as Record<string | number, unknown>)[seg] : undefined;
  return cur;
}

/** The checks' problems as the run's error: each with its file:line:column. */
function configError(problems: Diagnostic[]): KilnError {
  const lines = problems.map((d) => {
    const at = d.pos ? `${d.pos.file}:${d.pos.line}:${d.pos.column}: ` : "";
    return `${at}${d.path ? `${d.path}: ` : ""}${d.message}${d.hint ? ` (${d.hint})` : ""}`;
  });
  return new KilnError(
    problems[0]?.code ?? "KILN_CONFIG",
    problems.length === 1
      ? (lines[0] as string)
      : `${problems.length} problems in the options:\n${lines.join("\n")}`,
    { diagnostics: problems },
  );
}

function emitArtifact(bus: EventBus, run: string, a: Artifact): void {
  const { destroy: _d, ...plain } = a;
  bus.emit({ type: "artifact", time: Date.now(), run, artifact: plain });
}

function applies(c: LoadedComponent, run: RunInfo): boolean {
  const only = c.options.only as string[] | undefined;
  const except = c.options.except as string[] | undefined;
  if (only?.length && !matches(run, only)) return false;
  if (except?.length && matches(run, except)) return false;
  return true;
}

const COMMON_PROVISIONER_KEYS = [
  "type",
  "cache",
  "name",
  "only",
  "except",
  "pause_before",
  "max_retries",
  "timeout",
  "override",
];

function ownOptions(c: LoadedComponent, run: RunInfo): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(c.options)) if (!COMMON_PROVISIONER_KEYS.includes(k)) out[k] = v;
  const override = (c.options.override as Record<string, Record<string, unknown>> | undefined)?.[run.source];
  return override ? { ...out, ...override } : out;
}

/** The provisioners that apply to a run, loaded, with their options as written (for checkpoint keys). */
async function planProvisioners(
  list: LoadedComponent[],
  run: RunInfo,
  resolveKnown: <T>(v: T) => T,
): Promise<PlannedProvisioner[]> {
  const out: PlannedProvisioner[] = [];
  for (const p of list) {
    if (!applies(p, run)) continue;
    if (!p.plugin) throw new KilnError("KILN_INTERNAL", `provisioner ${p.type} is not resolved`);
    out.push({
      component: p,
      plugin: p.plugin,
      runtime: await createRuntime<ProvisionerRuntime>(p.plugin),
      label: labelOf(p),
      options: applyDefaults(p.plugin.schema, resolveKnown(ownOptions(p, run))),
    });
  }
  return out;
}

const versionOf = (c: LoadedComponent): string =>
  c.plugin ? `${c.plugin.pkg.name}@${c.plugin.pkg.version}` : "";

const labelOf = (p: LoadedComponent): string =>
  typeof p.options.name === "string" ? p.options.name : p.type;

function postProcessorOptions(pp: LoadedComponent): Record<string, unknown> {
  const options: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(pp.options))
    if (!["type", "name", "only", "except", "keep_input_artifact"].includes(k)) options[k] = v;
  return options;
}

async function provisionAll(
  list: PlannedProvisioner[],
  errorCleanup: LoadedComponent | undefined,
  ctx: RunContext,
  opts: BuildOptions,
  checkpoints: Attempt,
): Promise<void> {
  const communicator = ctx.state.get(COMMUNICATOR);
  checkpoints.provisioning = true;
  try {
    // Checkpoint 0: the machine is up and connected.
    await checkpoints.save(0, ctx);
    for (const [i, p] of list.entries()) {
      if (checkpoints.restored(i + 1)) {
        ctx.ui.fork(p.label).say(`Restored from the checkpoint: ${p.component.type} is not run again`);
        continue;
      }
      await runProvisioner(p.component, ctx, communicator, opts.graceMs, opts.loaded);
      await checkpoints.save(i + 1, ctx);
    }
  } catch (err) {
    if (errorCleanup && !ctx.signal.aborted) {
      ctx.ui.say(`Provisioning failed; running the error-cleanup-provisioner (${errorCleanup.type})`);
      const stop = cleanupSignal(ctx.signal, opts.hardSignal, opts.graceMs ?? GRACE_MS);
      try {
        await runProvisioner(
          errorCleanup,
          { ...ctx, signal: stop.signal },
          communicator,
          opts.graceMs,
          opts.loaded,
        );
      } catch (cleanupErr) {
        ctx.ui.error(`error-cleanup-provisioner failed: ${messageOf(cleanupErr)}`);
      } finally {
        stop.dispose();
      }
    }
    throw err;
  }
}

/**
 * The signal of cleanup work that runs provisioner code (the error-cleanup-provisioner): an
 * interrupt lets it go on for `graceMs`, a second interrupt (`hard`) stops it at once.
 */
function cleanupSignal(
  interrupt: AbortSignal,
  hard: AbortSignal | undefined,
  graceMs: number,
): { signal: AbortSignal; dispose(): void } {
  const ctl = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const now = () => ctl.abort(new InterruptedError("error-cleanup-provisioner"));
  const soon = () => {
    timer ??= setTimeout(now, graceMs);
  };
  if (interrupt.aborted) soon();
  else interrupt.addEventListener("abort", soon, { once: true });
  if (hard?.aborted) now();
  else hard?.addEventListener("abort", now, { once: true });
  return {
    signal: ctl.signal,
    dispose: () => {
      clearTimeout(timer);
      interrupt.removeEventListener("abort", soon);
      hard?.removeEventListener("abort", now);
    },
  };
}

async function runProvisioner(
  p: LoadedComponent,
  ctx: RunContext,
  communicator: Communicator | undefined,
  graceMs?: number,
  loaded?: Pick<LoadedBuildFile, "src" | "locals">,
): Promise<void> {
  if (!p.plugin) throw new KilnError("KILN_INTERNAL", `provisioner ${p.type} is not resolved`);
  const label = labelOf(p);
  checkHttpAvailable(`the ${p.type} provisioner's`, ownOptions(p, ctx.run), p.path, ctx.buildVars, loaded);
  const ui = ctx.ui.fork(label);
  const pause = p.options.pause_before as string | undefined;
  if (pause) {
    ui.say(`Pausing ${pause} before the next provisioner...`);
    await abortableSleep(parseDuration(pause), ctx.signal, () => new InterruptedError());
  }
  const plugin = p.plugin;
  const runtime = await withTimeout(
    `loading ${plugin.pkg.name}`,
    ctx.signal,
    undefined,
    () => createRuntime<ProvisionerRuntime>(plugin),
    graceMs,
  );
  const retries = (p.options.max_retries as number | undefined) ?? 0;
  const timeout = p.options.timeout ? parseDuration(p.options.timeout as string) : undefined;
  for (let attempt = 0; ; attempt++) {
    ui.say(
      attempt === 0
        ? `Provisioning with ${p.type}...`
        : `Retrying ${p.type} (attempt ${attempt + 1} of ${retries + 1})...`,
    );
    try {
      const options = applyDefaults(p.plugin.schema, ctx.render(ownOptions(p, ctx.run)));
      await withTimeout(
        `${p.type} provisioner`,
        ctx.signal,
        timeout,
        (signal) =>
          runtime.provision({
            ...ctx,
            ui,
            signal,
            options,
            communicator: communicator ?? new NoneCommunicator(),
          }),
        graceMs,
      );
      return;
    } catch (err) {
      if (ctx.signal.aborted || attempt >= retries) throw err;
      ui.error(`${p.type} failed: ${messageOf(err)}`);
    }
  }
}

async function postProcess(
  builderArtifact: Artifact,
  chains: LoadedComponent[][],
  ctx: RunContext,
  opts: BuildOptions,
): Promise<Artifact[]> {
  const out: Artifact[] = [];
  let keepBuilderArtifact = chains.length === 0;
  for (const chain of chains) {
    let input = builderArtifact;
    let first = true;
    for (const pp of chain) {
      if (!applies(pp, ctx.run)) continue;
      if (!pp.plugin) throw new KilnError("KILN_INTERNAL", `post-processor ${pp.type} is not resolved`);
      const plugin = pp.plugin;
      const runtime = await withTimeout(
        `loading ${plugin.pkg.name}`,
        ctx.signal,
        undefined,
        () => createRuntime<PostProcessorRuntime>(plugin),
        opts.graceMs,
      );
      const ui = ctx.ui.fork(pp.type);
      ui.say(`Running post-processor ${pp.type}...`);
      const options = postProcessorOptions(pp);
      checkHttpAvailable(`the ${pp.type} post-processor's`, options, pp.path, ctx.buildVars, opts.loaded);
      const rendered = applyDefaults(plugin.schema, ctx.render(options));
      const result = await withTimeout(
        `${pp.type} post-processor`,
        ctx.signal,
        undefined,
        (signal) => runtime.postProcess({ ...ctx, ui, signal, options: rendered, artifact: input }),
        opts.graceMs,
      );
      const keep = pp.options.keep_input_artifact === true || result.keepInput === true;
      if (first) {
        if (keep) keepBuilderArtifact = true;
      } else if (!keep && input.destroy) {
        await input.destroy();
      }
      if (result.artifact !== input) {
        out.push(result.artifact);
        emitArtifact(opts.bus, ctx.run.name, result.artifact);
      }
      input = result.artifact;
      first = false;
    }
  }
  if (!keepBuilderArtifact && builderArtifact.destroy) {
    ctx.ui.say(
      `Deleting the builder's artifact (no post-processor kept it; set keep_input_artifact: true to keep it)`,
    );
    await builderArtifact.destroy();
  }
  return out;
}
