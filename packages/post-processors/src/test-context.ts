/** Test helpers: a PostProcessContext over real temporary folders, with a recording Ui. */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { applyDefaults, createRunContext, SecretRegistry } from "@kiln/core";
import type { OptionsOf, Static, TOptionsObject, TSchema, Type } from "@kiln/sdk";
import type { Artifact, PostProcessContext, Ui } from "./types.js";

export interface Recorded {
  says: string[];
  errors: string[];
  stdout: string;
  stderr: string;
  progress: { id: string; done: number; total: number | undefined }[];
}

export function recordingUi(rec: Recorded): Ui {
  const ui: Ui = {
    say: (m) => rec.says.push(m),
    message: (m) => rec.says.push(m),
    error: (m) => rec.errors.push(m),
    output: (stream, chunk) => {
      rec[stream] += chunk;
    },
    progress: (id, _label, done, total) => rec.progress.push({ id, done, total }),
    fork: () => ui,
  };
  return ui;
}

export interface TestContext<O> extends PostProcessContext<O> {
  rec: Recorded;
  controller: AbortController;
}

/** The contexts' temp folders, which the engine would remove when the run ends. */
const disposers: (() => Promise<void>)[] = [];

/** Remove what ctx.tempDir() made, as the engine does at the end of a run. */
export async function removeContextTemps(): Promise<void> {
  await Promise.all(disposers.splice(0).map((dispose) => dispose()));
}

/** The options as a build file may write them: defaulted options may be left out. */
export type RawOptions<S> =
  S extends TOptionsObject<infer P> ? Static<ReturnType<typeof Type.Object<P>>> : never;

/**
 * A PostProcessContext like the engine builds for a run `<build>.<type>.<source>`: made by core's
 * createRunContext, with the options as the engine gives them (the schema's defaults applied).
 */
export function makeContext<S extends TSchema>(
  schema: S,
  baseDir: string,
  options: RawOptions<S>,
  artifact: Partial<Artifact> & { files: string[] },
  extra: {
    force?: boolean;
    runUuid?: string;
    source?: string;
    type?: string;
    build?: string;
    signal?: AbortSignal;
    /** Registered as the engine registers sensitive variables: ctx.redact() hides them. */
    secrets?: string[];
  } = {},
): TestContext<OptionsOf<S>> {
  const rec: Recorded = { says: [], errors: [], stdout: "", stderr: "", progress: [] };
  const controller = new AbortController();
  const source = extra.source ?? "ubuntu";
  const type = extra.type ?? "qemu";
  const build = extra.build ?? "base";
  const secrets = new SecretRegistry();
  for (const s of extra.secrets ?? []) secrets.add(s);
  const { ctx, dispose } = createRunContext({
    run: { name: `${build}.${type}.${source}`, build, source, type, runUuid: extra.runUuid ?? "run-uuid-1" },
    ui: recordingUi(rec),
    signal: extra.signal ?? controller.signal,
    baseDir,
    force: extra.force ?? false,
    secret: (v) => secrets.add(v),
    redact: (t) => secrets.redact(t),
  });
  disposers.push(dispose);
  return {
    ...ctx,
    rec,
    controller,
    options: applyDefaults(schema, options as unknown as OptionsOf<S>),
    artifact: { builderType: type, id: "artifact-id", description: "test artifact", ...artifact },
  };
}

/** A fresh temporary folder, and a function that removes it. */
export async function tempFolder(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "kiln-pp-test-"));
  return {
    dir,
    cleanup: async () => {
      await removeContextTemps();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
