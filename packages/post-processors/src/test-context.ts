/** Test helpers: a PostProcessContext over real temporary folders, with a recording Ui. */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Artifact, PostProcessContext, StateBag, Ui } from "./types.js";

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

function stateBag(): StateBag {
  const map = new Map<string, unknown>();
  return {
    get: <T>(k: string) => map.get(k) as T | undefined,
    require: <T>(k: string) => map.get(k) as T,
    put: (k, v) => void map.set(k, v),
    delete: (k) => void map.delete(k),
    has: (k) => map.has(k),
  };
}

export interface TestContext<O> extends PostProcessContext<O> {
  rec: Recorded;
  controller: AbortController;
}

/** Folders made through ctx.tempDir(), which the engine would remove when the run ends. */
const temps: string[] = [];

/** Remove what ctx.tempDir() made, as the engine does at the end of a run. */
export async function removeContextTemps(): Promise<void> {
  await Promise.all(temps.splice(0).map((d) => rm(d, { recursive: true, force: true })));
}

export function makeContext<O>(
  baseDir: string,
  options: O,
  artifact: Partial<Artifact> & { files: string[] },
  extra: {
    force?: boolean;
    runUuid?: string;
    source?: string;
    type?: string;
    build?: string;
    signal?: AbortSignal;
  } = {},
): TestContext<O> {
  const rec: Recorded = { says: [], errors: [], stdout: "", stderr: "", progress: [] };
  const controller = new AbortController();
  const source = extra.source ?? "ubuntu";
  const type = extra.type ?? "qemu";
  const build = extra.build ?? "base";
  return {
    rec,
    controller,
    run: { name: `${build}.${type}.${source}`, build, source, type, runUuid: extra.runUuid ?? "run-uuid-1" },
    state: stateBag(),
    ui: recordingUi(rec),
    signal: extra.signal ?? controller.signal,
    buildVars: {
      PackerRunUUID: extra.runUuid ?? "run-uuid-1",
      BuildName: build,
      SourceName: source,
      BuilderType: type,
      ID: "",
    },
    secret: () => {},
    render: <T>(v: T) => v,
    baseDir,
    force: extra.force ?? false,
    tempDir: async (prefix = "kiln-") => {
      const d = await mkdtemp(join(tmpdir(), prefix));
      temps.push(d);
      return d;
    },
    options,
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
