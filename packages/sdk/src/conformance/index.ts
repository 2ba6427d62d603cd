/**
 * The conformance kit for kiln plugins: one vitest suite per kind of component, the same for
 * first-party and third-party plugins (the idea of unstorage's shared driver tests). Import it
 * from `@kiln/sdk/conformance` in a test file; it needs vitest (the main `@kiln/sdk` entry never
 * loads vitest). Each call registers a `describe` block:
 *
 * `testBuilder({ plugin, type, example, invalid?, secrets?, run? })`
 * - option validation: the schema compiles, is an object schema that rejects unknown options,
 *   accepts the example, and rejects the given invalid examples;
 * - a run with the example options emits step events in order and yields a well-formed artifact;
 * - cleanup on failure and on abort: when the build fails (a failing provision step) or is
 *   interrupted, the cleanup of every step that began runs and succeeds, and nothing hangs;
 * - secrets: values registered with ctx.secret() (and `secrets` given here) never reach an event.
 *
 * `testProvisioner({ plugin, type, example, invalid?, failing?, longRunning?, secrets?,
 * communicator?, files?, verify? })`
 * - the same option validation (also of the schema on its own, as schema.json ships it), and
 *   create() gives a runtime with provision();
 * - the example runs, by default against localCommunicator(): "the machine" is this one —
 *   commands run with `/bin/sh -c` in a temporary working folder, uploads and downloads are local
 *   copies (relative remote paths in that folder, absolute ones as they are) — so shell and file
 *   provisioners really do their work; `verify` can look at the result; the provisioner must not
 *   close the communicator;
 * - failures: against a machine that refuses everything (commands exit 1, transfers fail), and
 *   for each `failing` option set, provision rejects with an Error whose message names it
 *   (`[type] …`), never a crash (TypeError …);
 * - interrupts: with the run already interrupted it rejects at once without using the machine;
 *   interrupted at each event or communicator call of the example it ends within abortWithinMs
 *   (default 5 s); a `longRunning` example (e.g. `sleep 600`) is stopped as promptly;
 * - secrets never reach an event, in any of these runs.
 *
 * `testPostProcessor({ plugin, type, example, invalid?, failing?, artifact?, secrets?, verify? })`
 * - the same option validation, and create() gives a runtime with postProcess();
 * - the example runs on a sample artifact (sampleArtifact(): `artifact/disk.raw`, 1 MiB, and
 *   `artifact/disk.json` in a temporary build folder; or `artifact(dir)`) and resolves with a
 *   well-formed `{ artifact }` (builderType, id, description, files that exist, JSON data), the
 *   input files left as they were;
 * - failures (`failing` option sets) reject with a `[type] …` message and leave the build folder
 *   as it was;
 * - interrupts: already interrupted it rejects at once and writes nothing; interrupted at each of
 *   the example's events it ends within abortWithinMs and, when it rejects, leaves no
 *   (half-written) file behind;
 * - secrets never reach an event.
 *
 * Every suite makes its RunContext with createConformanceRun() (./common.ts).
 */
import {
  type Artifact,
  applyDefaults,
  type BuilderRuntime,
  type BuildStepsContext,
  type KilnEvent,
  type Plugin,
  type RunContext,
  runSteps,
  type Step,
} from "@kiln/core";
import { describe, expect, it } from "vitest";
import { createConformanceRun, expectNoSecrets, schemaTests } from "./common.js";

export {
  type ConformanceRun,
  type ConformanceRunOptions,
  createConformanceRun,
  expectNoSecrets,
} from "./common.js";
export {
  type CommunicatorCall,
  type LocalCommunicator,
  type LocalCommunicatorOptions,
  localCommunicator,
} from "./local-communicator.js";
export {
  type PostProcessorRun,
  sampleArtifact,
  type TestPostProcessorOptions,
  testPostProcessor,
} from "./post-processor.js";
export { type ProvisionerRun, type TestProvisionerOptions, testProvisioner } from "./provisioner.js";

export interface TestBuilderOptions {
  /** The plugin (the package's default export, made with definePlugin). */
  plugin: Plugin;
  /** The builder type to test, e.g. "null". */
  type: string;
  /** Options that are valid and can run on this machine (e.g. `communicator: none`). */
  example: Record<string, unknown>;
  /** Option sets that must be rejected by the schema. */
  invalid?: Record<string, unknown>[];
  /** Values to treat as secrets (as sensitive variables would be); they must never appear in events. */
  secrets?: string[];
  /** Whether the example can actually run here (default true). When false only the schema is checked. */
  run?: boolean;
  /** How long one run may take (default 60 s). */
  timeoutMs?: number;
  /** The folder the build file would be in (default: a temp folder). */
  baseDir?: string;
}

interface Recorded {
  events: KilnEvent[];
  secrets: string[];
  started: string[];
  /** Steps that have a cleanup. */
  withCleanup: string[];
  cleaned: { step: string; ok: boolean; error?: string }[];
  artifact?: Artifact;
  error?: unknown;
}

/** Run the builder's steps the way the engine does, with a provision step of our choosing. */
export async function runBuilderOnce(
  opts: TestBuilderOptions,
  provision: (ctx: RunContext, abort: () => void) => Promise<void>,
): Promise<Recorded> {
  const component = opts.plugin.get("builder", opts.type);
  if (!component) throw new Error(`${opts.plugin.name} has no builder "${opts.type}"`);
  const runtime = (await component.create()) as BuilderRuntime;
  const r = await createConformanceRun({
    builderType: opts.type,
    ...(opts.secrets ? { secrets: opts.secrets } : {}),
    ...(opts.baseDir ? { baseDir: opts.baseDir } : {}),
  });
  const { bus, ctx } = r;
  const run = ctx.run;
  const rec: Recorded = {
    events: r.events,
    secrets: r.secrets,
    started: [],
    withCleanup: [],
    cleaned: [],
  };
  bus.subscribe((e) => {
    if (e.type === "step-start") rec.started.push(e.step);
    if (e.type === "cleanup")
      rec.cleaned.push({ step: e.step, ok: e.ok, ...(e.error ? { error: e.error } : {}) });
  });
  // As the engine does: the schema's defaults filled in before the component sees its options.
  const options = applyDefaults(component.schema, structuredClone(opts.example));
  const provisionStep: Step = {
    name: "provision",
    run: (c) => provision(c, r.abort),
  };
  try {
    await runtime.prepare?.(options, ctx);
    const steps = runtime.steps(options, { ...ctx, provisionStep: () => provisionStep } as BuildStepsContext);
    for (const s of steps) if (typeof s.cleanup === "function") rec.withCleanup.push(s.name);
    await runSteps(steps, ctx, { bus, onError: "cleanup", graceMs: 2000 });
    rec.artifact = (await runtime.artifact(options, ctx)) ?? undefined;
    if (rec.artifact) {
      const { destroy: _d, ...plain } = rec.artifact;
      bus.emit({ type: "artifact", time: Date.now(), run: run.name, artifact: plain });
    }
  } catch (err) {
    rec.error = err;
  } finally {
    await r.dispose();
  }
  return rec;
}

function expectCleanups(rec: Recorded): void {
  // Every step that began and has a cleanup must have had it run, successfully.
  for (const c of rec.cleaned)
    expect(c.ok, `cleanup of step "${c.step}" failed: ${c.error ?? ""}`).toBe(true);
  const cleanedSteps = new Set(rec.cleaned.map((c) => c.step));
  for (const s of rec.started) {
    if (rec.withCleanup.includes(s))
      expect(cleanedSteps.has(s), `step "${s}" began but its cleanup never ran`).toBe(true);
  }
  const starts = rec.events
    .filter((e) => e.type === "cleanup-start")
    .map((e) => (e as { step: string }).step);
  for (const s of starts)
    expect(cleanedSteps.has(s), `cleanup of "${s}" started but did not finish`).toBe(true);
}

/** Register the conformance suite for one builder. */
export function testBuilder(opts: TestBuilderOptions): void {
  const timeout = opts.timeoutMs ?? 60_000;
  describe(`kiln builder conformance: ${opts.plugin.name} ${opts.type}`, () => {
    schemaTests("builder", opts);

    if (opts.run === false) return;

    it("runs the example: step events in order, provisioning, a well-formed artifact, no secrets in events", {
      timeout,
    }, async () => {
      let provisioned = false;
      const rec = await runBuilderOnce(opts, async (ctx) => {
        provisioned = true;
        ctx.ui.say("conformance: provisioning");
      });
      expect(
        rec.error,
        `the run failed: ${String((rec.error as Error | undefined)?.message ?? rec.error)}`,
      ).toBeUndefined();
      expect(provisioned, "the builder's steps never ran ctx.provisionStep()").toBe(true);
      const steps = rec.events.filter((e) => e.type === "step-start" || e.type === "step-end");
      expect(steps.length).toBeGreaterThan(0);
      // each step-start is followed by its step-end before the next step starts
      for (let i = 0; i < steps.length; i += 2) {
        const [a, b] = [steps[i], steps[i + 1]] as [
          KilnEvent & { step: string },
          (KilnEvent & { step: string; ok: boolean }) | undefined,
        ];
        expect(a.type).toBe("step-start");
        expect(b?.type).toBe("step-end");
        expect(b?.step).toBe(a.step);
        expect(b?.ok).toBe(true);
      }
      expectCleanups(rec);
      if (rec.artifact) {
        const a = rec.artifact;
        expect(a.builderType).toBe(opts.type);
        expect(typeof a.id).toBe("string");
        expect(Array.isArray(a.files) && a.files.every((f) => typeof f === "string")).toBe(true);
        expect(typeof a.description).toBe("string");
        if (a.data !== undefined) expect(typeof a.data).toBe("object");
        if (a.destroy !== undefined) expect(typeof a.destroy).toBe("function");
        expect(() => JSON.stringify({ ...a, destroy: undefined })).not.toThrow();
      }
      expectNoSecrets(rec.events, rec.secrets);
    });

    it("cleans up after a failure: every started step's cleanup runs and succeeds", { timeout }, async () => {
      const secret = "kiln-conformance-s3cr3t-value";
      const rec = await runBuilderOnce(
        { ...opts, secrets: [...(opts.secrets ?? []), secret] },
        async (ctx) => {
          ctx.ui.say(`failing on purpose with ${secret}`);
          throw new Error(`provisioning failed (conformance) ${secret}`);
        },
      );
      expect(rec.error, "a failing provision step must fail the run").toBeDefined();
      expect(rec.started).toContain("provision");
      expect(rec.artifact).toBeUndefined();
      expectCleanups(rec);
      expectNoSecrets(rec.events, rec.secrets);
    });

    it("cleans up after an abort (Ctrl-C): nothing hangs, every started step's cleanup runs", {
      timeout,
    }, async () => {
      const t0 = Date.now();
      const rec = await runBuilderOnce(opts, async (ctx, abort) => {
        abort();
        await new Promise<void>((resolve, reject) => {
          if (ctx.signal.aborted) return reject(ctx.signal.reason);
          ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason), { once: true });
          setTimeout(resolve, 5_000).unref();
        });
      });
      expect(rec.error, "an interrupted run must fail").toBeDefined();
      expect(Date.now() - t0).toBeLessThan(timeout);
      expectCleanups(rec);
      expectNoSecrets(rec.events, rec.secrets);
    });
  });
}
