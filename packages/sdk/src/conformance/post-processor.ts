/**
 * The conformance suite for post-processors: `testPostProcessor({ plugin, type, example })`.
 * See the overview in ./index.ts.
 */
import { lstat, mkdir, readdir, writeFile } from "node:fs/promises";
import { isAbsolute, join, relative, resolve } from "node:path";
import type { Artifact, KilnEvent, Plugin, PostProcessorRuntime, PostProcessResult } from "@kiln/core";
import { applyDefaults } from "@kiln/core";
import { describe, expect, it } from "vitest";
import {
  componentOf,
  createConformanceRun,
  emitRunEnd,
  expectAbortError,
  expectFailure,
  expectNoSecrets,
  schemaTests,
  settleWithin,
} from "./common.js";

export interface TestPostProcessorOptions {
  /** The plugin (the package's default export, made with definePlugin). */
  plugin: Plugin;
  /** The post-processor type to test, e.g. "compress". */
  type: string;
  /** Options that are valid and work on the sample artifact. */
  example: Record<string, unknown>;
  /** Option sets that must be rejected by the schema. */
  invalid?: Record<string, unknown>[];
  /** Option sets the schema accepts but whose run must fail (an output inside a file, a script that exits 3). */
  failing?: Record<string, unknown>[];
  /**
   * The input artifact, made in `dir` (the build file's folder, a new temporary folder for each
   * run). Default: sampleArtifact(dir).
   */
  artifact?: (dir: string) => Artifact | Promise<Artifact>;
  /** Values to treat as secrets (as sensitive variables would be); they must never appear in events. */
  secrets?: string[];
  /** More checks after the example ran (the output's content, …). */
  verify?: (run: PostProcessorRun) => void | Promise<void>;
  /** Whether the example can actually run here (default true). When false only the schema is checked. */
  run?: boolean;
  /** How long one test may take (default 60 s). */
  timeoutMs?: number;
  /** How soon after an interrupt postProcess must have ended (default 5 s; the engine gives up after 10 s). */
  abortWithinMs?: number;
}

/** One postProcess() of the suite, for `verify`. */
export interface PostProcessorRun {
  /** The build file's folder; the sample artifact's files are in it. */
  baseDir: string;
  input: Artifact;
  result?: PostProcessResult;
  error?: unknown;
  events: KilnEvent[];
  /** Whether postProcess ended at all (false: it was still running abortWithinMs after the interrupt). */
  settled: boolean;
}

/**
 * The suite's default input: `artifact/disk.raw` (1 MiB) and `artifact/disk.json` in `dir`, as a
 * builder of type "conformance" would leave them (absolute paths).
 */
export async function sampleArtifact(dir: string): Promise<Artifact> {
  const out = join(dir, "artifact");
  await mkdir(out, { recursive: true });
  const disk = Buffer.alloc(1 << 20);
  for (let i = 0; i < disk.length; i++) disk[i] = (i * 31 + (i >> 12)) % 251;
  await writeFile(join(out, "disk.raw"), disk);
  await writeFile(join(out, "disk.json"), `${JSON.stringify({ name: "conformance", size: disk.length })}\n`);
  return {
    builderType: "conformance",
    id: "conformance-image-1",
    files: [join(out, "disk.raw"), join(out, "disk.json")],
    description: "the conformance suite's sample artifact",
    data: { conformance: "yes" },
  };
}

/** Every file and folder under `dir` (relative paths), with sizes of files. */
async function listing(dir: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      const rel = relative(dir, p);
      if (e.isDirectory()) {
        out.set(`${rel}/`, 0);
        await walk(p);
      } else out.set(rel, e.isFile() ? (await lstat(p)).size : 0);
    }
  };
  await walk(dir);
  return out;
}

function expectUnchanged(before: Map<string, number>, after: Map<string, number>, what: string): void {
  const added = [...after.keys()].filter((k) => !before.has(k));
  expect(added, `${what}: left behind in the build folder`).toEqual([]);
  const changed = [...before].filter(([k, size]) => after.has(k) && after.get(k) !== size).map(([k]) => k);
  expect(changed, `${what}: changed files that were there before`).toEqual([]);
  const removed = [...before.keys()].filter((k) => !after.has(k));
  expect(removed, `${what}: removed files (the input artifact's files belong to the engine)`).toEqual([]);
}

interface RunPlan {
  options: Record<string, unknown>;
  abortAt?: "before" | number;
  inspect: (
    r: PostProcessorRun & { before: Map<string, number>; after: Map<string, number>; activities: number },
  ) => void | Promise<void>;
}

/** Run the post-processor once on a fresh sample artifact, as the engine does. */
async function postProcessOnce(opts: TestPostProcessorOptions, plan: RunPlan): Promise<void> {
  const component = componentOf(opts.plugin, "post-processor", opts.type);
  const runtime = (await component.create()) as PostProcessorRuntime;
  const r = await createConformanceRun({ builderType: "conformance", secrets: opts.secrets ?? [] });
  let activities = 0;
  let aborted: () => void = () => {};
  const abortSeen = new Promise<void>((res) => {
    aborted = res;
  });
  const interrupt = () => {
    r.abort();
    aborted();
  };
  r.bus.subscribe(() => {
    activities++;
    if (plan.abortAt === activities) interrupt();
  });
  try {
    const input = await (opts.artifact ?? sampleArtifact)(r.ctx.baseDir);
    const before = await listing(r.ctx.baseDir);
    if (plan.abortAt === "before") interrupt();
    // As the engine does: the schema's defaults filled in before the component sees its options.
    const options = applyDefaults(component.schema, structuredClone(plan.options));
    const running = Promise.resolve().then(() => runtime.postProcess({ ...r.ctx, options, artifact: input }));
    await Promise.race([running.then(noop, noop), abortSeen]);
    const s = await settleWithin(running, opts.abortWithinMs ?? 5_000);
    const seen = activities;
    const error = s.settled && !s.ok ? s.error : undefined;
    const result = s.settled && s.ok ? s.value : undefined;
    if (result?.artifact && result.artifact !== input && typeof result.artifact === "object") {
      const { destroy: _d, ...plain } = result.artifact;
      r.bus.emit({ type: "artifact", time: Date.now(), run: r.ctx.run.name, artifact: plain });
    }
    emitRunEnd(r, error);
    const after = await listing(r.ctx.baseDir);
    await plan.inspect({
      baseDir: r.ctx.baseDir,
      input,
      ...(result ? { result } : {}),
      ...(error !== undefined ? { error } : {}),
      events: r.events,
      settled: s.settled,
      before,
      after,
      activities: seen,
    });
    expectNoSecrets(r.events, r.secrets);
  } finally {
    await r.dispose();
  }
}

const noop = () => {};

/** A result the engine can use: `{ artifact }` with the Artifact fields, whose files exist. */
async function expectWellFormed(run: PostProcessorRun): Promise<void> {
  const res = run.result;
  expect(res && typeof res === "object", "postProcess must resolve with { artifact }").toBe(true);
  const a = (res as PostProcessResult).artifact;
  expect(a && typeof a === "object", "postProcess must resolve with { artifact }").toBe(true);
  expect(typeof a.builderType === "string" && a.builderType !== "", "artifact.builderType").toBe(true);
  expect(typeof a.id, "artifact.id").toBe("string");
  expect(typeof a.description, "artifact.description").toBe("string");
  expect(Array.isArray(a.files) && a.files.every((f) => typeof f === "string"), "artifact.files").toBe(true);
  for (const f of a.files) {
    const p = isAbsolute(f) ? f : resolve(run.baseDir, f);
    const exists = await lstat(p).then(
      () => true,
      () => false,
    );
    expect(exists, `artifact.files lists ${f}, which does not exist`).toBe(true);
  }
  if (a.data !== undefined) expect(typeof a.data, "artifact.data").toBe("object");
  if (a.destroy !== undefined) expect(typeof a.destroy, "artifact.destroy").toBe("function");
  if (res?.keepInput !== undefined) expect(typeof res.keepInput, "keepInput").toBe("boolean");
  expect(() => JSON.stringify({ ...a, destroy: undefined }), "the artifact must be JSON").not.toThrow();
}

/** Register the conformance suite for one post-processor. */
export function testPostProcessor(opts: TestPostProcessorOptions): void {
  const timeout = opts.timeoutMs ?? 60_000;
  const limit = opts.abortWithinMs ?? 5_000;
  describe(`kiln post-processor conformance: ${opts.plugin.name} ${opts.type}`, () => {
    schemaTests("post-processor", opts);

    it("create() gives a runtime with postProcess()", async () => {
      const runtime = (await componentOf(
        opts.plugin,
        "post-processor",
        opts.type,
      ).create()) as PostProcessorRuntime;
      expect(typeof runtime?.postProcess).toBe("function");
    });

    if (opts.run === false) return;

    it("runs the example: a well-formed { artifact } whose files exist, the input left alone, no secrets in events", {
      timeout,
    }, async () => {
      await postProcessOnce(opts, {
        options: opts.example,
        inspect: async (run) => {
          expect(run.settled, "postProcess never ended").toBe(true);
          expect(
            run.error,
            `the example failed: ${String((run.error as Error | undefined)?.message ?? run.error)}`,
          ).toBeUndefined();
          await expectWellFormed(run);
          for (const f of run.input.files) {
            const p = isAbsolute(f) ? f : resolve(run.baseDir, f);
            const size = await lstat(p).then(
              (s) => s.size,
              () => -1,
            );
            expect(size, `the input file ${f} was removed or changed (the engine decides about it)`).toBe(
              run.before.get(relative(run.baseDir, p)) ?? size,
            );
          }
          await opts.verify?.(run);
        },
      });
    });

    for (const [i, failing] of (opts.failing ?? []).entries()) {
      it(`fails with a message and leaves nothing behind (failing example ${i + 1}: ${JSON.stringify(failing)})`, {
        timeout,
      }, async () => {
        await postProcessOnce(opts, {
          options: failing,
          inspect: (run) => {
            expect(run.settled, "postProcess never ended").toBe(true);
            expectFailure(run.error, opts.type, `failing example ${JSON.stringify(failing)}`);
            expectUnchanged(run.before, run.after, "after a failure");
          },
        });
      });
    }

    it("does nothing once the run is interrupted: rejects promptly, writes nothing", {
      timeout,
    }, async () => {
      await postProcessOnce(opts, {
        options: opts.example,
        abortAt: "before",
        inspect: (run) => {
          expect(run.settled, `postProcess did not end within ${limit} ms of the interrupt`).toBe(true);
          expectAbortError(run.error, "an interrupted post-processor");
          expectUnchanged(run.before, run.after, "after an interrupt");
        },
      });
    });

    it("ends promptly when interrupted at any point, with no half-written output left behind", {
      timeout,
    }, async () => {
      let total = 0;
      await postProcessOnce(opts, {
        options: opts.example,
        inspect: (run) => {
          total = run.activities;
        },
      });
      // Interrupt at the 1st, 2nd, … event (at most 30 points).
      for (let at = 1; at <= Math.min(total, 30); at++) {
        await postProcessOnce(opts, {
          options: opts.example,
          abortAt: at,
          inspect: async (run) => {
            const what = `interrupted at event ${at}`;
            expect(run.settled, `${what}: postProcess did not end within ${limit} ms`).toBe(true);
            if (run.error !== undefined) {
              expectAbortError(run.error, what);
              expectUnchanged(run.before, run.after, what);
            } else await expectWellFormed(run);
          },
        });
      }
    });
  });
}
