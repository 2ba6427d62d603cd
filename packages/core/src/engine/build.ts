/**
 * `kiln build`: expand builds × sources into named runs, run them (up to N at once), each with
 * its builder's steps, the build's provisioners and its post-processor chains.
 */
import { randomUUID } from "node:crypto";
import { parseDuration } from "../duration.js";
import { isKilnError, KilnError } from "../errors.js";
import type { LoadedBuildFile, LoadedComponent } from "../load/index.js";
import { createRuntime } from "../plugins/runtime.js";
import { applyDefaults } from "../schema/defaults.js";
import { abortableSleep, messageOf } from "../util/abort.js";
import { createRunContext } from "./context.js";
import type { EventBus } from "./events.js";
import { NoneCommunicator } from "./none.js";
import { InterruptedError, type OnError, runSteps, withTimeout } from "./runner.js";
import { COMMUNICATOR } from "./state.js";
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
  env?: Record<string, string | undefined>;
  cwd?: string;
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

/** Every run of the file, in order, after --only/--except. */
export function planRuns(
  loaded: LoadedBuildFile,
  opts: { only?: string[]; except?: string[]; runUuid?: string } = {},
): PlannedRun[] {
  const runUuid = opts.runUuid ?? randomUUID();
  const out: PlannedRun[] = [];
  loaded.builds.forEach((b, buildIndex) => {
    for (const s of b.sources) {
      const type = loaded.sources[s]?.type ?? "unknown";
      const name = b.name ? `${b.name}.${type}.${s}` : `${type}.${s}`;
      const info: RunInfo = { name, build: b.name, source: s, type, runUuid };
      if (opts.only?.length && !matches(info, opts.only)) continue;
      if (opts.except?.length && matches(info, opts.except)) continue;
      out.push({ info, buildIndex });
    }
  });
  return out;
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
  for (const s of loaded.secrets) bus.secrets.add(s);
  const t0 = Date.now();
  bus.emit({ type: "build-start", time: t0, runs: plan.map((p) => p.info.name), runUuid });
  const limit = opts.parallel && opts.parallel > 0 ? opts.parallel : plan.length || 1;
  const results: RunResult[] = new Array(plan.length);
  let next = 0;
  const worker = async () => {
    while (next < plan.length) {
      const i = next++;
      const p = plan[i] as PlannedRun;
      results[i] = await runOne(p, opts);
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

async function runOne(p: PlannedRun, opts: BuildOptions): Promise<RunResult> {
  const { loaded, bus } = opts;
  const { info } = p;
  const build = loaded.builds[p.buildIndex];
  const source = loaded.sources[info.source];
  const t0 = Date.now();
  bus.emit({ type: "run-start", time: t0, run: info.name });
  const ui = bus.ui(info.name);
  const ctl = new AbortController();
  const onAbort = () => ctl.abort(opts.signal.reason);
  if (opts.signal.aborted) ctl.abort(opts.signal.reason);
  opts.signal.addEventListener("abort", onAbort, { once: true });
  const { ctx, dispose } = createRunContext({
    run: info,
    ui,
    signal: ctl.signal,
    baseDir: loaded.dir,
    force: opts.force === true,
    secret: (v) => bus.secrets.add(v),
    variables: Object.fromEntries(Object.entries(loaded.variables).map(([k, v]) => [k, v.value])),
    locals: loaded.locals,
    env: opts.env ?? process.env,
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
  });
  const artifacts: Artifact[] = [];
  try {
    if (!build || !source?.plugin)
      throw new KilnError("KILN_INTERNAL", `run ${info.name} has no resolved builder`);
    const builder = await createRuntime<BuilderRuntime>(source.plugin);
    const options = applyDefaults(source.plugin.schema, source.options);
    await builder.prepare?.(options, ctx);
    const provisionStep: Step = {
      name: "provision",
      run: (c) => provisionAll(build.provisioners, build.errorCleanupProvisioner, c, opts),
    };
    const steps = builder.steps(options, { ...ctx, provisionStep: () => provisionStep });
    await runSteps(steps, ctx, {
      bus,
      onError: opts.onError ?? "cleanup",
      ...(opts.debug ? { debug: true } : {}),
      ...(opts.prompt ? { prompt: opts.prompt } : {}),
    });
    const artifact = await builder.artifact(options, ctx);
    if (artifact) {
      artifacts.push(artifact);
      emitArtifact(bus, info.name, artifact);
      artifacts.push(...(await postProcess(artifact, build.postProcessors, ctx, opts)));
    }
    bus.emit({ type: "run-end", time: Date.now(), run: info.name, ok: true, durationMs: Date.now() - t0 });
    return { run: info.name, ok: true, artifacts };
  } catch (err) {
    bus.flush(info.name);
    const interrupted = ctl.signal.aborted;
    const e = interrupted && !isKilnError(err) ? new InterruptedError() : err;
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

async function provisionAll(
  list: LoadedComponent[],
  errorCleanup: LoadedComponent | undefined,
  ctx: RunContext,
  opts: BuildOptions,
): Promise<void> {
  const communicator = ctx.state.get(COMMUNICATOR);
  try {
    for (const p of list) {
      if (!applies(p, ctx.run)) continue;
      await runProvisioner(p, ctx, communicator);
    }
  } catch (err) {
    if (errorCleanup && !ctx.signal.aborted) {
      ctx.ui.say(`Provisioning failed; running the error-cleanup-provisioner (${errorCleanup.type})`);
      try {
        await runProvisioner(errorCleanup, { ...ctx, signal: new AbortController().signal }, communicator);
      } catch (cleanupErr) {
        ctx.ui.error(`error-cleanup-provisioner failed: ${messageOf(cleanupErr)}`);
      }
    }
    throw err;
  }
  void opts;
}

async function runProvisioner(
  p: LoadedComponent,
  ctx: RunContext,
  communicator: Communicator | undefined,
): Promise<void> {
  if (!p.plugin) throw new KilnError("KILN_INTERNAL", `provisioner ${p.type} is not resolved`);
  const label = typeof p.options.name === "string" ? p.options.name : p.type;
  const ui = ctx.ui.fork(label);
  const pause = p.options.pause_before as string | undefined;
  if (pause) {
    ui.say(`Pausing ${pause} before the next provisioner...`);
    await abortableSleep(parseDuration(pause), ctx.signal, () => new InterruptedError());
  }
  const runtime = await createRuntime<ProvisionerRuntime>(p.plugin);
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
      await withTimeout(`${p.type} provisioner`, ctx.signal, timeout, (signal) =>
        runtime.provision({
          ...ctx,
          ui,
          signal,
          options,
          communicator: communicator ?? new NoneCommunicator(),
        }),
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
      const runtime = await createRuntime<PostProcessorRuntime>(pp.plugin);
      const ui = ctx.ui.fork(pp.type);
      ui.say(`Running post-processor ${pp.type}...`);
      const options: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(pp.options))
        if (!["type", "name", "only", "except", "keep_input_artifact"].includes(k)) options[k] = v;
      const result = await runtime.postProcess({
        ...ctx,
        ui,
        options: applyDefaults(pp.plugin.schema, ctx.render(options)),
        artifact: input,
      });
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
