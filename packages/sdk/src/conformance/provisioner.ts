/**
 * The conformance suite for provisioners: `testProvisioner({ plugin, type, example })`.
 * See the overview in ./index.ts.
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { Communicator, KilnEvent, Plugin, ProvisionerRuntime } from "@kiln/core";
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
import { type CommunicatorCall, type LocalCommunicator, localCommunicator } from "./local-communicator.js";

export interface TestProvisionerOptions {
  /** The plugin (the package's default export, made with definePlugin). */
  plugin: Plugin;
  /** The provisioner type to test, e.g. "shell". */
  type: string;
  /** Options that are valid and work against the local communicator (see localCommunicator). */
  example: Record<string, unknown>;
  /** Option sets that must be rejected by the schema. */
  invalid?: Record<string, unknown>[];
  /** Option sets the schema accepts but whose run must fail (a script that exits 3, a missing source). */
  failing?: Record<string, unknown>[];
  /**
   * Options whose run goes on until it is interrupted (e.g. `inline: ["sleep 600"]`): the suite
   * interrupts it once it has started and expects provision to end promptly.
   */
  longRunning?: Record<string, unknown>;
  /** Values to treat as secrets (as sensitive variables would be); they must never appear in events. */
  secrets?: string[];
  /**
   * The communicator for the example run, made for each run (default: localCommunicator, with
   * `root` as its working folder). The checks of failures and aborts always use the suite's own.
   */
  communicator?: (root: string) => Communicator | Promise<Communicator>;
  /** Files written into the build file's folder before each run (relative path → content): scripts, sources. */
  files?: Record<string, string>;
  /** More checks after the example ran (that a file arrived, …). */
  verify?: (run: ProvisionerRun) => void | Promise<void>;
  /** Whether the example can actually run here (default true). When false only the schema is checked. */
  run?: boolean;
  /** How long one test may take (default 60 s). */
  timeoutMs?: number;
  /** How soon after an interrupt provision must have ended (default 5 s; the engine gives up after 10 s). */
  abortWithinMs?: number;
}

/** One provision() of the suite, for `verify`. */
export interface ProvisionerRun {
  /** The build file's folder (relative paths in options start here). */
  baseDir: string;
  /** The local communicator's working folder ("the machine"). */
  remoteDir: string;
  communicator: Communicator;
  events: KilnEvent[];
  /** The rejection, when provision failed. */
  error?: unknown;
  /** Whether provision ended at all (false: it was still running abortWithinMs after the interrupt). */
  settled: boolean;
}

interface RunPlan {
  options: Record<string, unknown>;
  /** "local" (default), "failing" (a machine that refuses everything) or the suite user's. */
  machine?: "local" | "failing" | "custom";
  /** Interrupt before provision is called, or at the n-th activity (event or communicator call, from 1). */
  abortAt?: "before" | number;
  /** Interrupt this long after the first activity (for longRunning). */
  abortAfterFirstMs?: number;
  /** Runs with the run's folders before they are removed. */
  inspect?: (r: ProvisionerRun & { calls: CommunicatorCall[]; activities: number }) => void | Promise<void>;
}

/** Run the provisioner once, as the engine's provision step does. */
async function provisionOnce(opts: TestProvisionerOptions, plan: RunPlan): Promise<void> {
  const component = componentOf(opts.plugin, "provisioner", opts.type);
  const runtime = (await component.create()) as ProvisionerRuntime;
  const remoteDir = await mkdtemp(join(tmpdir(), "conformance-machine-"));
  const r = await createConformanceRun({ builderType: "conformance", secrets: opts.secrets ?? [] });
  let activities = 0;
  let aborted: () => void = () => {};
  const abortSeen = new Promise<void>((resolve) => {
    aborted = resolve;
  });
  const interrupt = () => {
    r.abort();
    aborted();
  };
  const activity = () => {
    activities++;
    if (plan.abortAt === activities) interrupt();
    if (activities === 1 && plan.abortAfterFirstMs !== undefined)
      setTimeout(interrupt, plan.abortAfterFirstMs).unref();
  };
  r.bus.subscribe(activity);
  let calls: CommunicatorCall[] = [];
  let comm: Communicator;
  if (plan.machine === "custom" && opts.communicator) {
    comm = await opts.communicator(remoteDir);
  } else {
    const local: LocalCommunicator = localCommunicator({
      root: remoteDir,
      failing: plan.machine === "failing",
      onCall: activity,
    });
    calls = local.calls;
    comm = local;
  }
  const limit = opts.abortWithinMs ?? 5_000;
  try {
    for (const [rel, text] of Object.entries(opts.files ?? {})) {
      const p = join(r.ctx.baseDir, rel);
      await mkdir(dirname(p), { recursive: true });
      await writeFile(p, text, { mode: 0o755 });
    }
    if (plan.abortAt === "before") interrupt();
    // As the engine does: the schema's defaults filled in before the component sees its options.
    const options = applyDefaults(component.schema, structuredClone(plan.options));
    const running = Promise.resolve().then(() =>
      runtime.provision({ ...r.ctx, options, communicator: comm }),
    );
    // Until an interrupt, the test's own timeout bounds the run; after one, abortWithinMs.
    await Promise.race([running.then(noop, noop), abortSeen]);
    const s = await settleWithin(running, limit);
    const seen = activities;
    const error = s.settled && !s.ok ? s.error : undefined;
    emitRunEnd(r, error);
    await plan.inspect?.({
      baseDir: r.ctx.baseDir,
      remoteDir,
      communicator: comm,
      events: r.events,
      ...(error !== undefined ? { error } : {}),
      settled: s.settled,
      calls,
      activities: seen,
    });
    expectNoSecrets(r.events, r.secrets);
  } finally {
    await r.dispose();
    await rm(remoteDir, { recursive: true, force: true });
  }
}

const noop = () => {};

/** Operations that change or read the machine (not connect/close). */
const WORK = new Set<CommunicatorCall["op"]>(["exec", "upload", "uploadDir", "download", "downloadDir"]);

/** Register the conformance suite for one provisioner. */
export function testProvisioner(opts: TestProvisionerOptions): void {
  const timeout = opts.timeoutMs ?? 60_000;
  const limit = opts.abortWithinMs ?? 5_000;
  describe(`kiln provisioner conformance: ${opts.plugin.name} ${opts.type}`, () => {
    schemaTests("provisioner", opts);

    it("create() gives a runtime with provision()", async () => {
      const runtime = (await componentOf(
        opts.plugin,
        "provisioner",
        opts.type,
      ).create()) as ProvisionerRuntime;
      expect(typeof runtime?.provision).toBe("function");
    });

    if (opts.run === false) return;

    it("runs the example, leaves the communicator open, no secrets in events", { timeout }, async () => {
      await provisionOnce(opts, {
        options: opts.example,
        machine: opts.communicator ? "custom" : "local",
        inspect: async (run) => {
          expect(run.settled, "provision never ended").toBe(true);
          expect(
            run.error,
            `the example failed: ${String((run.error as Error | undefined)?.message ?? run.error)}`,
          ).toBeUndefined();
          const open = (run.communicator as { connected?: boolean }).connected;
          if (open !== undefined)
            expect(open, "the provisioner closed the communicator (it belongs to the builder)").toBe(true);
          await opts.verify?.(run);
        },
      });
    });

    it("fails with a message when the machine refuses its commands and transfers", { timeout }, async () => {
      // Whether the example uses the machine at all (shell-local and breakpoint do not).
      let usesMachine = false;
      await provisionOnce(opts, {
        options: opts.example,
        inspect: (run) => {
          usesMachine = run.calls.some((c) => WORK.has(c.op));
        },
      });
      await provisionOnce(opts, {
        options: opts.example,
        machine: "failing",
        inspect: (run) => {
          expect(run.settled, "provision never ended").toBe(true);
          if (usesMachine) expectFailure(run.error, opts.type, "against a machine that refuses everything");
          else expect(run.error, "the example does not use the machine, so it must not fail").toBeUndefined();
        },
      });
    });

    for (const [i, failing] of (opts.failing ?? []).entries()) {
      it(`fails with a message, not a crash (failing example ${i + 1}: ${JSON.stringify(failing)})`, {
        timeout,
      }, async () => {
        await provisionOnce(opts, {
          options: failing,
          inspect: (run) => {
            expect(run.settled, "provision never ended").toBe(true);
            expectFailure(run.error, opts.type, `failing example ${JSON.stringify(failing)}`);
          },
        });
      });
    }

    it("does nothing once the run is interrupted: rejects promptly, no command or transfer", {
      timeout,
    }, async () => {
      await provisionOnce(opts, {
        options: opts.example,
        abortAt: "before",
        inspect: (run) => {
          expect(run.settled, `provision did not end within ${limit} ms of the interrupt`).toBe(true);
          expectAbortError(run.error, "an interrupted provisioner");
          const started = run.calls.filter((c) => WORK.has(c.op) && c.started);
          expect(started, "the machine was used after the run was interrupted").toEqual([]);
        },
      });
    });

    it("ends promptly when interrupted at any point of the example", { timeout }, async () => {
      let total = 0;
      await provisionOnce(opts, {
        options: opts.example,
        inspect: (run) => {
          total = run.activities;
        },
      });
      // Interrupt at the 1st, 2nd, … event or communicator call (at most 30 points).
      for (let at = 1; at <= Math.min(total, 30); at++) {
        await provisionOnce(opts, {
          options: opts.example,
          abortAt: at,
          inspect: (run) => {
            expect(
              run.settled,
              `interrupted at activity ${at}: provision did not end within ${limit} ms`,
            ).toBe(true);
            if (run.error !== undefined) expectAbortError(run.error, `interrupted at activity ${at}`);
          },
        });
      }
    });

    if (opts.longRunning) {
      const long = opts.longRunning;
      it("stops a long-running run promptly when interrupted", { timeout }, async () => {
        let started = false;
        await provisionOnce(opts, {
          options: long,
          // Once it has begun (its first event or communicator call), give its command time to start.
          abortAfterFirstMs: 300,
          inspect: (run) => {
            started = run.activities > 0;
            expect(run.settled, `provision did not end within ${limit} ms of the interrupt`).toBe(true);
            expectAbortError(run.error, "an interrupted long run");
          },
        });
        expect(started, "the long-running example never started").toBe(true);
      });
    }
  });
}
