/** Test helpers: a Ui that records what it is told, and a ProvisionContext around a communicator. */
import { randomUUID } from "node:crypto";
import { rm } from "node:fs/promises";
import {
  applyDefaults,
  type BuildVars,
  type Communicator,
  createRunContext,
  type ProvisionContext,
  type Ui,
} from "@kiln/core";
import type { OptionsOf, Static, TOptionsObject, TSchema, Type } from "@kiln/sdk";
import { sshdAvailability } from "@kiln/sdk/testing";

export interface UiEvent {
  kind: "say" | "message" | "error" | "output" | "progress";
  label?: string;
  stream?: "stdout" | "stderr";
  text: string;
  done?: number;
  total?: number | undefined;
}

export interface RecordingUi extends Ui {
  events: UiEvent[];
  /** Everything written to a stream, concatenated. */
  out(stream?: "stdout" | "stderr"): string;
  /** The say/message/error lines. */
  lines(): string[];
  /** Resolves once the output contains `text`. */
  waitForOutput(text: string, timeoutMs?: number): Promise<void>;
}

export function recordingUi(): RecordingUi {
  const events: UiEvent[] = [];
  const waiters: { text: string; resolve: () => void }[] = [];
  const make = (label?: string): Ui => ({
    say: (text) => events.push({ kind: "say", text, ...(label ? { label } : {}) }),
    message: (text) => events.push({ kind: "message", text, ...(label ? { label } : {}) }),
    error: (text) => events.push({ kind: "error", text, ...(label ? { label } : {}) }),
    output: (stream, chunk) => {
      events.push({ kind: "output", stream, text: chunk, ...(label ? { label } : {}) });
      const all = ui.out();
      for (const w of waiters.splice(0)) {
        if (all.includes(w.text)) w.resolve();
        else waiters.push(w);
      }
    },
    progress: (id, text, done, total) =>
      events.push({ kind: "progress", text: `${id} ${text}`, done, total }),
    fork: (l) => make(label ? `${label}/${l}` : l),
  });
  const ui: RecordingUi = {
    ...(make() as Ui),
    events,
    out: (stream) =>
      events
        .filter((e) => e.kind === "output" && (!stream || e.stream === stream))
        .map((e) => e.text)
        .join(""),
    lines: () =>
      events.filter((e) => e.kind === "say" || e.kind === "message" || e.kind === "error").map((e) => e.text),
    waitForOutput: (text, timeoutMs = 20_000) =>
      new Promise<void>((resolve, reject) => {
        if (ui.out().includes(text)) return resolve();
        const t = setTimeout(
          () =>
            reject(
              new Error(`output never contained ${JSON.stringify(text)}; got ${JSON.stringify(ui.out())}`),
            ),
          timeoutMs,
        );
        waiters.push({
          text,
          resolve: () => {
            clearTimeout(t);
            resolve();
          },
        });
      }),
  };
  return ui;
}

export interface TestContext<O> extends ProvisionContext<O> {
  ui: RecordingUi;
}

/** The options as a build file may write them: defaulted options may be left out. */
export type RawOptions<S> =
  S extends TOptionsObject<infer P> ? Static<ReturnType<typeof Type.Object<P>>> : never;

/**
 * A ProvisionContext like the engine builds for a run `test.null.host`: made by core's
 * createRunContext, with the options as the engine gives them (the schema's defaults applied).
 */
export function provisionContext<S extends TSchema>(
  schema: S,
  options: RawOptions<S>,
  communicator: Communicator,
  over: { baseDir?: string; signal?: AbortSignal; buildVars?: BuildVars; ui?: RecordingUi } = {},
): TestContext<OptionsOf<S>> {
  const ui = over.ui ?? recordingUi();
  const { ctx } = createRunContext({
    run: { name: "test.null.host", build: "test", source: "host", type: "null", runUuid: randomUUID() },
    ui,
    baseDir: over.baseDir ?? process.cwd(),
    ...(over.signal ? { signal: over.signal } : {}),
    ...(over.buildVars ? { buildVars: over.buildVars } : {}),
  });
  return { ...ctx, ui, options: applyDefaults(schema, options as unknown as OptionsOf<S>), communicator };
}

export async function removeAll(paths: (string | undefined)[]): Promise<void> {
  await Promise.all(
    paths.filter((p): p is string => !!p).map((p) => rm(p, { recursive: true, force: true })),
  );
}

/** Whether the sshd suites skip: only when sshd is missing and CI is not set. */
export function sshdSkip(suite: string): { skip: boolean; reason: string | undefined } {
  const avail = sshdAvailability();
  const skip = !avail.available && process.env.CI !== "true";
  if (skip) {
    // biome-ignore lint/suspicious/noConsole: tell the developer why a suite is skipped
    console.warn(`[kiln] skipping the ${suite} tests: ${avail.reason ?? "sshd unavailable"}`);
  }
  return { skip, reason: avail.reason };
}

/** A communicator for tests that do not reach a machine (option errors, shell-local). */
export function noMachine(): Communicator {
  const fail = async (): Promise<never> => {
    throw new Error("no machine in this test");
  };
  return {
    connect: async () => {},
    exec: fail,
    upload: fail,
    uploadDir: fail,
    download: fail,
    downloadDir: fail,
    close: async () => {},
  };
}
