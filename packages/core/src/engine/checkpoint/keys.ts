/**
 * The keys of a run's checkpoints, computed before anything runs: checkpoint 0 (the machine up
 * and connected) from kiln's version, the builder (package, version, type, the options that
 * shape the machine, the files it is made from); checkpoint n from the key before it and the
 * n-th provisioner (package, version, type, its options, every file it uploads or runs).
 *
 * What went into each key is kept as digests (never values: no secret is written anywhere), so
 * a later run can say what changed.
 */
import { relative, resolve } from "node:path";
import { canonicalValue, digest, hashPath, type ValueScope } from "./hash.js";

export interface StepInputs {
  /** "connect" or a provisioner's label. */
  step: string;
  /** Builder or provisioner type. */
  type: string;
  /** `package@version` of the plugin. */
  plugin: string;
  /** Digest of the options that enter the key. */
  options: string;
  /** Digest per file or folder (path relative to the build file's folder). */
  files: Record<string, string>;
  /** The names in `files` that entered by size and time only. */
  statFiles?: string[];
}

export interface PlannedKey {
  index: number;
  step: string;
  key: string;
  /** Why this point is neither saved nor restored (cache: false, a volatile input …). */
  uncacheable?: string;
  inputs: StepInputs;
}

export interface KeyPart {
  step: string;
  type: string;
  plugin: string;
  options: unknown;
  /** Local paths (relative to baseDir) whose content enters the key; false: the step cannot tell. */
  files: Array<string | { path: string; stat: true }> | false;
  /** Why the step is never cached, when the build file or the plugin says so. */
  uncacheable?: string;
}

export interface KeyRequest {
  /** kiln's (core's) version. */
  kiln: string;
  builder: KeyPart;
  provisioners: KeyPart[];
  scope: ValueScope;
  baseDir: string;
}

async function hashFiles(
  files: Array<string | { path: string; stat: true }>,
  baseDir: string,
): Promise<{ files: Record<string, string>; statFiles: string[] }> {
  const out: Record<string, string> = {};
  const statFiles: string[] = [];
  for (const f of files) {
    const path = typeof f === "string" ? f : f.path;
    const abs = resolve(baseDir, path);
    const name = relative(baseDir, abs) || ".";
    out[name] = await hashPath(abs, typeof f !== "string");
    if (typeof f !== "string") statFiles.push(name);
  }
  return { files: out, statFiles };
}

/** The files of recorded inputs hashed again now: true when every one is as it was. */
export async function filesUnchanged(inputs: StepInputs, baseDir: string): Promise<boolean> {
  const stat = new Set(inputs.statFiles ?? []);
  for (const [name, was] of Object.entries(inputs.files))
    if ((await hashPath(resolve(baseDir, name), stat.has(name))) !== was) return false;
  return true;
}

async function inputsOf(part: KeyPart, req: KeyRequest): Promise<{ inputs: StepInputs; volatile?: string }> {
  const c = canonicalValue(part.options, req.scope);
  const { files, statFiles } =
    part.files === false ? { files: {}, statFiles: [] } : await hashFiles(part.files, req.baseDir);
  return {
    inputs: {
      step: part.step,
      type: part.type,
      plugin: part.plugin,
      options: digest(c.value),
      files,
      ...(statFiles.length ? { statFiles } : {}),
    },
    ...(c.volatile ? { volatile: c.volatile } : {}),
  };
}

/** Every checkpoint key of a run, in order: index 0 and one per provisioner. */
export async function planKeys(req: KeyRequest): Promise<PlannedKey[]> {
  const out: PlannedKey[] = [];
  const first = await inputsOf(req.builder, req);
  let why =
    req.builder.uncacheable ??
    (first.volatile ? `the ${req.builder.type} builder's options: ${first.volatile}` : undefined);
  let key = digest({ kiln: req.kiln, inputs: first.inputs });
  out.push({ index: 0, step: "connect", key, inputs: first.inputs, ...(why ? { uncacheable: why } : {}) });
  for (const [i, p] of req.provisioners.entries()) {
    const { inputs, volatile } = await inputsOf(p, req);
    const own =
      p.uncacheable ??
      (p.files === false ? `the ${p.type} provisioner does not say which files it reads` : undefined) ??
      (volatile ? `an option of ${p.step}: ${volatile}` : undefined);
    // Everything after a step that cannot be repeated depends on it: nothing after it is cached.
    why ??= own === undefined ? undefined : `${p.step} (provisioner ${i + 1}): ${own}`;
    key = digest({ parent: key, inputs });
    out.push({ index: i + 1, step: p.step, key, inputs, ...(why ? { uncacheable: why } : {}) });
  }
  return out;
}

/** What differs between the inputs recorded for a step and the ones now, in words. */
export function describeChange(before: StepInputs | undefined, now: StepInputs): string | undefined {
  if (!before) return `${now.step} is new`;
  if (before.type !== now.type) return `${now.step} is now a ${now.type} (was ${before.type})`;
  if (before.plugin !== now.plugin) return `${now.step}: ${before.plugin} → ${now.plugin}`;
  if (before.options !== now.options) return `${now.step}: its options changed`;
  const names = new Set([...Object.keys(before.files), ...Object.keys(now.files)]);
  for (const n of [...names].sort()) if (before.files[n] !== now.files[n]) return `${now.step}: ${n} changed`;
  return undefined;
}
