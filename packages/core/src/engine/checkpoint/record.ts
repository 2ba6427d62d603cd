/**
 * Up to date: beside a run's output, kiln records a digest of every input that made it (the
 * last checkpoint key, all of the builder's options, the post-processors) and the artifacts it
 * produced. The next run with the same digest, whose artifacts are all still there as they
 * were written, is up to date: nothing runs (--force rebuilds).
 *
 * The record is `.<output name>.kiln-inputs.json` in the output's folder; it holds digests and
 * the artifacts' descriptions (redacted), never an option's value.
 */
import { randomBytes } from "node:crypto";
import { readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { Artifact } from "../types.js";
import type { StepInputs } from "./keys.js";

export interface RecordedFile {
  path: string;
  size: number;
  mtimeMs: number;
}

export interface RecordedArtifact {
  builderType: string;
  id: string;
  description: string;
  files: RecordedFile[];
  data?: Record<string, unknown>;
  /** The builder's own artifact (its files must be unchanged); post-processors' only have to exist. */
  builder: boolean;
}

export interface OutputRecord {
  version: 1;
  run: string;
  /** Digest of every input. */
  inputs: string;
  /** What each checkpoint key was made of, to say later what changed. */
  steps: StepInputs[];
  /** Digest of the builder's and post-processors' options (what the checkpoints do not cover). */
  output: string;
  keys: string[];
  artifacts: RecordedArtifact[];
  created: string;
  /** Digest of the options as written (quick.ts), for the check before plugin code is loaded. */
  quick?: string;
}

export function recordPath(output: string): string {
  return join(dirname(output), `.${basename(output)}.kiln-inputs.json`);
}

export async function readRecord(output: string): Promise<OutputRecord | undefined> {
  try {
    const r = JSON.parse(await readFile(recordPath(output), "utf8")) as OutputRecord;
    return r?.version === 1 && typeof r.inputs === "string" && Array.isArray(r.artifacts) ? r : undefined;
  } catch {
    return undefined;
  }
}

export async function recordArtifacts(
  list: Artifact[],
  builderArtifact: Artifact,
): Promise<RecordedArtifact[]> {
  const out: RecordedArtifact[] = [];
  for (const a of list) {
    const files: RecordedFile[] = [];
    for (const f of a.files) {
      const st = await stat(f).catch(() => undefined);
      if (st) files.push({ path: f, size: st.size, mtimeMs: st.mtimeMs });
    }
    out.push({
      builderType: a.builderType,
      id: a.id,
      description: a.description,
      files,
      ...(a.data ? { data: a.data } : {}),
      builder: a === builderArtifact,
    });
  }
  return out;
}

/** A value with `redact` applied to every string in it. */
function redactValue(v: unknown, redact: (t: string) => string): unknown {
  if (typeof v === "string") return redact(v);
  if (Array.isArray(v)) return v.map((x) => redactValue(x, redact));
  if (v && typeof v === "object")
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, redactValue(x, redact)]));
  return v;
}

/**
 * Write the record (atomically). Descriptions and artifact data pass through `redact`; digests
 * and file paths are kept as they are (a path must still name its file).
 */
export async function writeRecord(
  output: string,
  record: OutputRecord,
  redact: (t: string) => string,
): Promise<void> {
  const file = recordPath(output);
  const tmp = `${file}.${randomBytes(4).toString("hex")}.tmp`;
  const safe: OutputRecord = {
    ...record,
    artifacts: record.artifacts.map((a) => ({
      ...a,
      id: redact(a.id),
      description: redact(a.description),
      ...(a.data ? { data: redactValue(a.data, redact) as Record<string, unknown> } : {}),
    })),
  };
  try {
    await writeFile(tmp, `${JSON.stringify(safe, null, 2)}\n`, { mode: 0o644 });
    await rename(tmp, file);
  } finally {
    await rm(tmp, { force: true });
  }
}

/** Why `record` does not make the run up to date, or undefined when it does. */
export async function staleReason(
  record: OutputRecord | undefined,
  inputs: string,
): Promise<string | undefined> {
  if (!record) return "no record of the inputs it was built from";
  if (record.inputs !== inputs) return "its inputs changed";
  for (const a of record.artifacts) {
    for (const f of a.files) {
      const st = await stat(f.path).catch(() => undefined);
      if (!st) return `${f.path} is gone`;
      if (a.builder && (st.size !== f.size || Math.round(st.mtimeMs) !== Math.round(f.mtimeMs)))
        return `${f.path} was changed after the build`;
    }
  }
  return undefined;
}

/** The artifacts of a record, as the run reports them again. */
export function artifactsOf(record: OutputRecord): Artifact[] {
  return record.artifacts.map((a) => ({
    builderType: a.builderType,
    id: a.id,
    description: a.description,
    files: a.files.map((f) => f.path),
    ...(a.data ? { data: a.data } : {}),
  }));
}
