/**
 * What the conformance suites share: the one place a RunContext is made for a component under
 * test (createConformanceRun), the schema checks every kind of component passes, and the
 * assertions about secrets, failures and prompt aborts.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type AnyComponent,
  applyDefaults,
  type CheckFn,
  compileSchema,
  createRunContext,
  EventBus,
  type KilnEvent,
  type Kind,
  messageOf,
  optionSchema,
  type Plugin,
  type RunContext,
} from "@kiln/core";
import { expect, it } from "vitest";

/** One run of a component under test: its context, the events it emitted, the secrets to look for. */
export interface ConformanceRun {
  ctx: RunContext;
  bus: EventBus;
  /** Every event, as a renderer would see it (after redaction). */
  events: KilnEvent[];
  /** The secrets given to the suite and those registered with ctx.secret() since. */
  secrets: string[];
  /** Interrupt the run (as Ctrl-C does): aborts ctx.signal. */
  abort(): void;
  /** Remove the temporary folders (ctx.tempDir(), and baseDir when the suite made it). */
  dispose(): Promise<void>;
}

export interface ConformanceRunOptions {
  /** The builder type the run is for (run.type, build.BuilderType). */
  builderType: string;
  /** Values to treat as secrets from the start. */
  secrets?: string[];
  /** The folder the build file would be in (default: a new temporary folder). */
  baseDir?: string;
}

/** The reason the suites abort with. */
export const ABORT_REASON = "interrupted by the conformance test";

/**
 * The context a component gets, as the engine makes it for a run `conformance.<type>.example`:
 * events go through an EventBus (so secrets are redacted as they are for users), ctx.secret()
 * registers with it, and ctx.tempDir() folders are removed by dispose(). Every suite makes its
 * contexts here and nowhere else.
 */
export async function createConformanceRun(o: ConformanceRunOptions): Promise<ConformanceRun> {
  const bus = new EventBus();
  const events: KilnEvent[] = [];
  const secrets = [...(o.secrets ?? [])];
  for (const s of secrets) bus.secrets.add(s);
  bus.subscribe((e) => events.push(e));
  const ctl = new AbortController();
  const temps: string[] = [];
  const baseDir = o.baseDir ?? (await mkdtemp(join(tmpdir(), "conformance-base-")));
  if (!o.baseDir) temps.push(baseDir);
  const run = {
    name: `conformance.${o.builderType}.example`,
    build: "conformance",
    source: "example",
    type: o.builderType,
    runUuid: "00000000-0000-4000-8000-000000000000",
  };
  const owned = createRunContext({
    run,
    ui: bus.ui(run.name),
    signal: ctl.signal,
    baseDir,
    force: true,
    secret: (v) => {
      secrets.push(v);
      bus.secrets.add(v);
    },
    redact: (t) => bus.secrets.redact(t),
  });
  const ctx = owned.ctx;
  return {
    ctx,
    bus,
    events,
    secrets,
    abort: () => ctl.abort(new Error(ABORT_REASON)),
    dispose: async () => {
      bus.flush();
      await owned.dispose();
      await Promise.all(temps.splice(0).map((d) => rm(d, { recursive: true, force: true })));
    },
  };
}

/** Emit the end of a run as the engine does, so a failure's message passes the same redaction. */
export function emitRunEnd(r: ConformanceRun, error: unknown): void {
  r.bus.flush();
  r.bus.emit({
    type: "run-end",
    time: Date.now(),
    run: r.ctx.run.name,
    ok: error === undefined,
    durationMs: 0,
    ...(error !== undefined ? { error: messageOf(error) } : {}),
  });
}

/** No secret (of 4 characters or more) appears in any event. */
export function expectNoSecrets(events: KilnEvent[], secrets: string[]): void {
  const text = JSON.stringify(events);
  for (const s of secrets)
    if (s.length >= 4) expect(text, "a secret reached the event stream").not.toContain(s);
}

const CRASHES = [TypeError, ReferenceError, RangeError, SyntaxError];

/**
 * A failure as users should see it: an Error with a message that names the component
 * (`[type] …`), not a crash inside the component (a TypeError and the like).
 */
export function expectFailure(err: unknown, type: string, what: string): void {
  expect(err, `${what}: it must fail (reject), but it succeeded`).toBeDefined();
  expect(err, `${what}: it must reject with an Error, not ${typeof err}`).toBeInstanceOf(Error);
  const e = err as Error;
  for (const C of CRASHES)
    expect(
      e instanceof C,
      `${what}: it crashed (${e.name}: ${e.message}) instead of failing with a message`,
    ).toBe(false);
  expect(e.message.trim(), `${what}: the error has no message`).not.toBe("");
  expect(e.message, `${what}: the message should say which component failed ("[${type}] …")`).toContain(
    `[${type}]`,
  );
}

/** An Error with a message (an abort may reject with the abort reason itself). */
export function expectAbortError(err: unknown, what: string): void {
  expect(err, `${what}: it must reject with an Error`).toBeInstanceOf(Error);
  const e = err as Error;
  for (const C of CRASHES)
    expect(e instanceof C, `${what}: it crashed (${e.name}: ${e.message}) instead of stopping`).toBe(false);
  expect(e.message.trim(), `${what}: the error has no message`).not.toBe("");
}

export type Settled<T> =
  | { settled: true; ok: true; value: T }
  | { settled: true; ok: false; error: unknown }
  | { settled: false };

/** How `p` ends, or `{ settled: false }` when it has not ended within `ms`. */
export async function settleWithin<T>(p: Promise<T>, ms: number): Promise<Settled<T>> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<Settled<T>>((resolve) => {
    timer = setTimeout(() => resolve({ settled: false }), ms);
  });
  try {
    return await Promise.race([
      p.then(
        (value): Settled<T> => ({ settled: true, ok: true, value }),
        (error: unknown): Settled<T> => ({ settled: true, ok: false, error }),
      ),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

const DEFINE: Record<Kind, string> = {
  builder: "defineBuilder",
  provisioner: "defineProvisioner",
  "post-processor": "definePostProcessor",
  datasource: "defineDataSource",
};

/** The component of `kind`/`type` in the plugin, or a clear error. */
export function componentOf(plugin: Plugin, kind: Kind, type: string): AnyComponent {
  const c = plugin.get(kind, type);
  if (!c) throw new Error(`${plugin.name} has no ${kind} "${type}"`);
  return c;
}

export interface SchemaCheckOptions {
  plugin: Plugin;
  type: string;
  example: Record<string, unknown>;
  invalid?: Record<string, unknown>[];
}

/**
 * Register the checks every component passes: made with definePlugin/define…, and an option
 * schema that compiles, is an object schema rejecting unknown options, accepts the example and
 * rejects the invalid examples — both on its own and as the loader composes it.
 */
export function schemaTests(kind: Kind, o: SchemaCheckOptions): void {
  it(`is defined with definePlugin/${DEFINE[kind]}`, () => {
    expect(o.plugin.kilnApi).toBe("1");
    const c = componentOf(o.plugin, kind, o.type);
    expect(c.kind).toBe(kind);
    expect(typeof c.create).toBe("function");
  });

  it("has an option schema that compiles, rejects unknown options and accepts the example", () => {
    const schema = componentOf(o.plugin, kind, o.type).schema;
    expect(schema.type).toBe("object");
    const validate = compileSchema(optionSchema(kind, schema));
    const ok = validate({ type: o.type, ...o.example });
    expect(ok, `the example is rejected: ${JSON.stringify(validate.errors)}`).toBe(true);
    expect(
      validate({ type: o.type, ...o.example, kiln_conformance_unknown_option: true }),
      "an unknown option is accepted",
    ).toBe(false);
    if (kind !== "builder") {
      // The schema as shipped in schema.json (editors and other tools read it as it is).
      const own = compileSchema(schema);
      expect(
        own(o.example),
        `the example is rejected by the schema itself: ${JSON.stringify(own.errors)}`,
      ).toBe(true);
      expect(
        own({ ...o.example, kiln_conformance_unknown_option: true }),
        "the schema itself accepts an unknown option (set additionalProperties: false)",
      ).toBe(false);
    }
    for (const bad of o.invalid ?? []) {
      expect(validate({ type: o.type, ...bad }), `accepted an invalid example: ${JSON.stringify(bad)}`).toBe(
        false,
      );
    }
  });

  it("check(), when it has one, returns well-formed problems for the example and never throws", async () => {
    const c = componentOf(o.plugin, kind, o.type);
    const runtime = (await c.create()) as { check?: CheckFn<unknown> };
    if (!runtime.check) return;
    const problems = await runtime.check(applyDefaults(c.schema, o.example), {
      baseDir: process.cwd(),
      type: o.type,
      env: {},
    });
    expect(Array.isArray(problems), "check() must return a list of problems").toBe(true);
    for (const p of problems) {
      expect(typeof p.message, `a problem without a message: ${JSON.stringify(p)}`).toBe("string");
      if (p.option !== undefined)
        expect(Array.isArray(p.option), "a problem's option is a path (a list)").toBe(true);
      if (p.severity !== undefined) expect(["error", "warning"]).toContain(p.severity);
    }
  });
}
