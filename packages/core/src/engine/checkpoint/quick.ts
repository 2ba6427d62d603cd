/**
 * The up-to-date check before any plugin code is loaded. A successful build leaves, beside the
 * build file, `.kiln/outputs/<run>.json`: where its record is, and a digest of the options as
 * written (every component's, with the plugins' versions) — the keys' inputs are functions of
 * these and of the files recorded in the record. When that digest is the same now, the recorded
 * files hash the same and the artifacts are there unchanged, the run is up to date without
 * loading the builder (what loading it would have found too). Anything else: the full check.
 */
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { canonicalValue, digest, type ValueScope } from "./hash.js";
import { filesUnchanged } from "./keys.js";
import { type OutputRecord, readRecord, staleReason } from "./record.js";

export interface QuickInputs {
  kiln: string;
  baseDir: string;
  components: unknown;
}

/** The digest of the options as written, or undefined when one reads a value new in every run. */
export function quickDigest(q: QuickInputs, scope: ValueScope): string | undefined {
  const c = canonicalValue(q.components, scope);
  return c.volatile ? undefined : digest({ kiln: q.kiln, baseDir: q.baseDir, components: c.value });
}

export const pointerPath = (baseDir: string, run: string): string =>
  join(baseDir, ".kiln", "outputs", `${run}.json`);

interface Pointer {
  version: 1;
  quick: string;
  output: string;
}

export async function writePointer(
  baseDir: string,
  run: string,
  quick: string,
  output: string,
): Promise<void> {
  const file = pointerPath(baseDir, run);
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, `${JSON.stringify({ version: 1, quick, output } satisfies Pointer)}\n`);
    await rename(tmp, file);
  } finally {
    await rm(tmp, { force: true });
  }
}

/** The record that makes the run up to date, found without plugin code, or undefined. */
export async function quickUpToDate(
  baseDir: string,
  run: string,
  quick: string,
): Promise<{ record: OutputRecord; output: string } | undefined> {
  let ptr: Pointer;
  try {
    ptr = JSON.parse(await readFile(pointerPath(baseDir, run), "utf8")) as Pointer;
  } catch {
    return undefined;
  }
  if (ptr?.version !== 1 || ptr.quick !== quick || typeof ptr.output !== "string") return undefined;
  const record = await readRecord(ptr.output);
  if (!record || record.quick !== quick) return undefined;
  for (const step of record.steps) if (!(await filesUnchanged(step, baseDir))) return undefined;
  if (await staleReason(record, record.inputs)) return undefined;
  return { record, output: ptr.output };
}
