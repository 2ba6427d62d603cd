/**
 * The conformance kit for builder plugins: `testBuilder({ plugin, type, example })` registers a
 * vitest suite that every builder — first-party or third-party — should pass:
 *
 * - option validation: the schema compiles, is an object schema that rejects unknown options,
 *   accepts the example, and rejects the given invalid examples;
 * - a run with the example options emits step events in order and yields a well-formed artifact;
 * - cleanup on failure and on abort: when the build fails (a failing provision step) or is
 *   interrupted, the cleanup of every step that began runs and succeeds, and nothing hangs;
 * - secrets: values registered with ctx.secret() (and `secrets` given here) never reach an event.
 *
 * Import it from `@kiln/sdk/conformance` in a test file; it needs vitest (the main `@kiln/sdk`
 * entry never loads vitest).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type Artifact,
  type BuilderRuntime,
  type BuildStepsContext,
  compileSchema,
  EventBus,
  type KilnEvent,
  optionSchema,
  type Plugin,
  type RunContext,
  runSteps,
  StateBag,
  type Step,
} from "@kiln/core";
import { describe, expect, it } from "vitest";

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
  const bus = new EventBus();
  const rec: Recorded = {
    events: [],
    secrets: [...(opts.secrets ?? [])],
    started: [],
    withCleanup: [],
    cleaned: [],
  };
  for (const s of rec.secrets) bus.secrets.add(s);
  bus.subscribe((e) => {
    rec.events.push(e);
    if (e.type === "step-start") rec.started.push(e.step);
    if (e.type === "cleanup")
      rec.cleaned.push({ step: e.step, ok: e.ok, ...(e.error ? { error: e.error } : {}) });
  });
  const ctl = new AbortController();
  const temps: string[] = [];
  const baseDir = opts.baseDir ?? (await mkdtemp(join(tmpdir(), "conformance-base-")));
  if (!opts.baseDir) temps.push(baseDir);
  const run = {
    name: `conformance.${opts.type}.example`,
    build: "conformance",
    source: "example",
    type: opts.type,
    runUuid: "00000000-0000-4000-8000-000000000000",
  };
  const ctx: RunContext = {
    run,
    state: new StateBag(),
    ui: bus.ui(run.name),
    signal: ctl.signal,
    buildVars: { BuilderType: opts.type, BuildName: run.build, SourceName: run.source, ID: "" },
    secret: (v) => {
      rec.secrets.push(v);
      bus.secrets.add(v);
    },
    render: <T>(v: T) => v,
    baseDir,
    force: true,
    tempDir: async (prefix = "kiln-") => {
      const d = await mkdtemp(join(tmpdir(), `conformance-${prefix.replace(/^kiln-?/, "")}`));
      temps.push(d);
      return d;
    },
  };
  const options = structuredClone(opts.example);
  const provisionStep: Step = {
    name: "provision",
    run: (c) => provision(c, () => ctl.abort(new Error("interrupted by the conformance test"))),
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
    bus.flush();
    await Promise.all(temps.map((d) => rm(d, { recursive: true, force: true })));
  }
  return rec;
}

function expectNoSecrets(rec: Recorded): void {
  const text = JSON.stringify(rec.events);
  for (const s of rec.secrets)
    if (s.length >= 4) expect(text, "a secret reached the event stream").not.toContain(s);
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
    const component = () => {
      const c = opts.plugin.get("builder", opts.type);
      if (!c) throw new Error(`${opts.plugin.name} has no builder "${opts.type}"`);
      return c;
    };

    it("is defined with definePlugin/defineBuilder", () => {
      expect(opts.plugin.kilnApi).toBe("1");
      expect(component().kind).toBe("builder");
      expect(typeof component().create).toBe("function");
    });

    it("has an option schema that compiles, rejects unknown options and accepts the example", () => {
      const schema = component().schema;
      expect(schema.type).toBe("object");
      const validate = compileSchema(optionSchema("builder", schema));
      const ok = validate({ type: opts.type, ...opts.example });
      expect(ok, `the example is rejected: ${JSON.stringify(validate.errors)}`).toBe(true);
      expect(
        validate({ type: opts.type, ...opts.example, kiln_conformance_unknown_option: true }),
        "an unknown option is accepted",
      ).toBe(false);
      for (const bad of opts.invalid ?? []) {
        expect(
          validate({ type: opts.type, ...bad }),
          `accepted an invalid example: ${JSON.stringify(bad)}`,
        ).toBe(false);
      }
    });

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
      expectNoSecrets(rec);
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
      expectNoSecrets(rec);
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
      expectNoSecrets(rec);
    });
  });
}
