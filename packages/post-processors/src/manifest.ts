/**
 * manifest: record each run's artifact in a JSON file in Packer's `packer-manifest.json`
 * format, byte for byte, so tooling written for Packer (jq scripts, CI steps) reads it.
 *
 * Layout (Packer's post-processor/manifest, encoded with Go's json.MarshalIndent(v, "", "  ")):
 *   {"builds": [{"name", "builder_type", "build_time" (omitted when 0, i.e. strip_time),
 *   "files": [{"name", "size"}] (null when none), "artifact_id", "packer_run_uuid",
 *   "custom_data" (null when not set; keys sorted)}], "last_run_uuid"}
 * two-space indentation, no newline at the end, Go's HTML-safe string escaping.
 *
 * Like Packer: entries are appended; the builds list starts afresh only with --force when the
 * file was last written by another run (last_run_uuid differs). The input artifact is passed
 * through unchanged and always kept.
 */
import { chmod, readFile, rename, stat, writeFile } from "node:fs/promises";
import { basename, dirname } from "node:path";
import { withLock } from "./lock.js";
import type { ManifestOptions } from "./schema.js";
import type { PostProcessContext, PostProcessorRuntime } from "./types.js";
import {
  CODES,
  makeDirs,
  messageOf,
  packerBuilderType,
  packerBuildName,
  ppError,
  removeQuietly,
  resolvePath,
  tempNameFor,
} from "./util.js";

const TYPE = "manifest";

export type { ManifestOptions } from "./schema.js";

export interface ManifestFileEntry {
  name: string;
  size: number;
}

/** One build in the manifest, with Packer's fields in Packer's order. */
export interface ManifestBuild {
  name: string;
  builder_type: string;
  /** Unix seconds; 0 means absent (strip_time). */
  build_time: number;
  files: ManifestFileEntry[] | null;
  artifact_id: string;
  packer_run_uuid: string;
  custom_data: Record<string, string> | null;
  /**
   * kiln's addition, only when the run used checkpoints (so without them the bytes are
   * Packer's): each checkpoint's index, step, key and whether the run restored or saved it.
   */
  kiln_checkpoints?: ManifestCheckpoint[];
}

export interface ManifestCheckpoint {
  index: number;
  step: string;
  key: string;
  how: string;
}

export interface ManifestDocument {
  builds: ManifestBuild[] | null;
  last_run_uuid: string;
}

// ---------------------------------------------------------------------------------------------
// Encoding as Go's encoding/json does

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** Strings as Go sees them: invalid UTF-16 (lone surrogates) becomes U+FFFD. */
function goString(s: string): string {
  return s.replace(LONE_SURROGATE, "\ufffd");
}

/** Go sorts map keys by their UTF-8 bytes. */
function goSortedKeys(obj: Record<string, unknown>): string[] {
  return Object.keys(obj).sort((a, b) => Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8")));
}

function orderedBuild(b: ManifestBuild): Record<string, unknown> {
  const out: Record<string, unknown> = { name: goString(b.name), builder_type: goString(b.builder_type) };
  if (b.build_time !== 0) out.build_time = b.build_time;
  out.files = b.files === null ? null : b.files.map((f) => ({ name: goString(f.name), size: f.size }));
  out.artifact_id = goString(b.artifact_id);
  out.packer_run_uuid = goString(b.packer_run_uuid);
  if (b.custom_data === null) {
    out.custom_data = null;
  } else {
    const cd: Record<string, string> = {};
    const data = b.custom_data;
    for (const k of goSortedKeys(data)) cd[goString(k)] = goString(data[k] as string);
    out.custom_data = cd;
  }
  if (b.kiln_checkpoints)
    out.kiln_checkpoints = b.kiln_checkpoints.map((c) => ({
      index: c.index,
      step: goString(c.step),
      key: goString(c.key),
      how: goString(c.how),
    }));
  return out;
}

/**
 * The bytes Packer writes for `doc`: json.MarshalIndent(doc, "", "  ") — which lays out like
 * JSON.stringify(…, null, 2) — with Go's extra escaping of <, >, & and U+2028/U+2029.
 */
export function encodeManifest(doc: ManifestDocument): string {
  const ordered = {
    builds: doc.builds === null ? null : doc.builds.map(orderedBuild),
    last_run_uuid: goString(doc.last_run_uuid),
  };
  // These characters can only occur inside strings in JSON text, so a global replace is safe.
  return JSON.stringify(ordered, null, 2).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

// ---------------------------------------------------------------------------------------------
// Decoding as Go's json.Unmarshal into Packer's structs does: unknown keys are dropped, key
// names match case-insensitively when there is no exact match, wrong types are errors.

class ParseProblem extends Error {}

function field(obj: Record<string, unknown>, name: string): unknown {
  if (Object.hasOwn(obj, name)) return obj[name];
  const lower = name.toLowerCase();
  for (const k of Object.keys(obj)) if (k.toLowerCase() === lower) return obj[k];
  return undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function str(v: unknown, where: string): string {
  if (v === undefined || v === null) return "";
  if (typeof v !== "string") throw new ParseProblem(`${where} is not a string`);
  return v;
}

function int(v: unknown, where: string): number {
  if (v === undefined || v === null) return 0;
  if (typeof v !== "number" || !Number.isInteger(v)) throw new ParseProblem(`${where} is not an integer`);
  return v;
}

function decodeBuild(v: unknown, i: number): ManifestBuild {
  const where = `builds[${i}]`;
  if (v === null) {
    return {
      name: "",
      builder_type: "",
      build_time: 0,
      files: null,
      artifact_id: "",
      packer_run_uuid: "",
      custom_data: null,
    };
  }
  if (!isObject(v)) throw new ParseProblem(`${where} is not an object`);
  const filesRaw = field(v, "files");
  let files: ManifestFileEntry[] | null = null;
  if (filesRaw !== undefined && filesRaw !== null) {
    if (!Array.isArray(filesRaw)) throw new ParseProblem(`${where}.files is not a list`);
    files = filesRaw.map((f, j) => {
      if (f === null) return { name: "", size: 0 };
      if (!isObject(f)) throw new ParseProblem(`${where}.files[${j}] is not an object`);
      return {
        name: str(field(f, "name"), `${where}.files[${j}].name`),
        size: int(field(f, "size"), `${where}.files[${j}].size`),
      };
    });
  }
  const cdRaw = field(v, "custom_data");
  let customData: Record<string, string> | null = null;
  if (cdRaw !== undefined && cdRaw !== null) {
    if (!isObject(cdRaw)) throw new ParseProblem(`${where}.custom_data is not an object`);
    customData = {};
    for (const [k, x] of Object.entries(cdRaw)) customData[k] = str(x, `${where}.custom_data.${k}`);
  }
  const checkpoints = decodeCheckpoints(v.kiln_checkpoints);
  return {
    name: str(field(v, "name"), `${where}.name`),
    builder_type: str(field(v, "builder_type"), `${where}.builder_type`),
    build_time: int(field(v, "build_time"), `${where}.build_time`),
    files,
    artifact_id: str(field(v, "artifact_id"), `${where}.artifact_id`),
    packer_run_uuid: str(field(v, "packer_run_uuid"), `${where}.packer_run_uuid`),
    custom_data: customData,
    ...(checkpoints ? { kiln_checkpoints: checkpoints } : {}),
  };
}

/** kiln_checkpoints of an earlier entry, kept when the file is rewritten (dropped when malformed). */
function decodeCheckpoints(v: unknown): ManifestCheckpoint[] | undefined {
  if (!Array.isArray(v)) return undefined;
  const ok = v.every(
    (c) =>
      isObject(c) &&
      typeof c.index === "number" &&
      typeof c.step === "string" &&
      typeof c.key === "string" &&
      typeof c.how === "string",
  );
  return ok
    ? (v as ManifestCheckpoint[]).map(({ index, step, key, how }) => ({ index, step, key, how }))
    : undefined;
}

/** Parse a manifest file's text. Throws a plain Error describing the problem. */
export function decodeManifest(text: string): ManifestDocument {
  const empty: ManifestDocument = { builds: null, last_run_uuid: "" };
  if (text.trim() === "") return empty;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ParseProblem(`it is not JSON (${messageOf(err)})`);
  }
  if (raw === null) return empty;
  if (!isObject(raw)) throw new ParseProblem("it is not a JSON object");
  const buildsRaw = field(raw, "builds");
  let builds: ManifestBuild[] | null = null;
  if (buildsRaw !== undefined && buildsRaw !== null) {
    if (!Array.isArray(buildsRaw)) throw new ParseProblem("builds is not a list");
    builds = buildsRaw.map(decodeBuild);
  }
  return { builds, last_run_uuid: str(field(raw, "last_run_uuid"), "last_run_uuid") };
}

// ---------------------------------------------------------------------------------------------

function customDataOf(value: unknown): Record<string, string> | null {
  if (value === undefined || value === null) return null;
  if (!isObject(value)) throw ppError(TYPE, CODES.options, "custom_data must be a map of names to strings");
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v === "string") out[k] = v;
    else if (typeof v === "number" || typeof v === "boolean") out[k] = String(v);
    else throw ppError(TYPE, CODES.options, `custom_data.${k} must be a string`);
  }
  return out;
}

/**
 * The entry with every secret replaced by `<sensitive>` (the manifest is a file, which the
 * event bus never sees), and the custom_data keys whose values held one.
 */
function redactEntry(
  entry: ManifestBuild,
  redact: (text: string) => string,
): { entry: ManifestBuild; keys: string[] } {
  const keys: string[] = [];
  let customData: Record<string, string> | null = null;
  if (entry.custom_data) {
    customData = {};
    for (const [k, v] of Object.entries(entry.custom_data)) {
      const safe = redact(v);
      if (safe !== v || redact(k) !== k) keys.push(redact(k));
      customData[redact(k)] = safe;
    }
  }
  return {
    keys,
    entry: {
      ...entry,
      name: redact(entry.name),
      files: entry.files?.map((f) => ({ ...f, name: redact(f.name) })) ?? null,
      artifact_id: redact(entry.artifact_id),
      custom_data: customData,
      ...(entry.kiln_checkpoints
        ? { kiln_checkpoints: entry.kiln_checkpoints.map((c) => ({ ...c, step: redact(c.step) })) }
        : {}),
    },
  };
}

async function sizeOf(file: string, baseDir: string): Promise<number> {
  try {
    return (await stat(resolvePath({ baseDir }, file))).size;
  } catch {
    return 0; // as Packer: a file that cannot be read is listed with size 0
  }
}

export const manifest: PostProcessorRuntime<ManifestOptions> = {
  async postProcess(ctx: PostProcessContext<ManifestOptions>) {
    const o = ctx.options;
    if (typeof o.output !== "string" || o.output.trim() === "") {
      throw ppError(TYPE, CODES.options, "output must be a non-empty file name");
    }
    if (/(?<!\$)\{\{/.test(o.output)) {
      throw ppError(
        TYPE,
        CODES.options,
        `output ${o.output}: the manifest's name takes no {{.Field}} templates`,
        {
          hint: "Use an expression instead, e.g. output: manifest-${{ build.BuildName }}.json.",
        },
      );
    }
    const output = resolvePath(ctx, o.output);
    // custom_data's expressions were evaluated by the engine, with the build vars of this run.
    const customData = customDataOf(o.custom_data);
    const files: ManifestFileEntry[] = [];
    for (const f of ctx.artifact.files) {
      files.push({ name: o.strip_path ? basename(f) : f, size: await sizeOf(f, ctx.baseDir) });
    }
    const full: ManifestBuild = {
      name: packerBuildName(ctx),
      builder_type: packerBuilderType(ctx),
      build_time: o.strip_time ? 0 : Math.floor(Date.now() / 1000),
      files: files.length ? files : null,
      artifact_id: ctx.artifact.id,
      packer_run_uuid: ctx.run.runUuid,
      custom_data: customData,
      ...(ctx.artifact.checkpoints?.length
        ? {
            kiln_checkpoints: ctx.artifact.checkpoints.map((c) => ({
              index: c.index,
              step: c.step,
              key: c.key,
              how: c.how,
            })),
          }
        : {}),
    };
    const { entry, keys } = redactEntry(full, (t) => ctx.redact(t));
    if (keys.length) {
      ctx.ui.message(
        `custom_data ${keys.map((k) => `"${k}"`).join(", ")} ${keys.length === 1 ? "holds" : "hold"} a sensitive value: written to ${o.output} as <sensitive>`,
      );
    }

    const removeMadeDirs = await makeDirs(TYPE, dirname(output));
    await withLock(`${output}.lock`, { type: TYPE, signal: ctx.signal }, async () => {
      let text = "";
      let mode: number | undefined;
      try {
        text = await readFile(output, "utf8");
        mode = (await stat(output)).mode & 0o7777;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
          throw ppError(TYPE, CODES.failed, `cannot read ${output}: ${messageOf(err)}`, { cause: err });
        }
      }
      let doc: ManifestDocument;
      try {
        doc = decodeManifest(text);
      } catch (err) {
        throw ppError(TYPE, CODES.failed, `cannot parse ${output}: ${messageOf(err)}`, {
          cause: err,
          hint: "Move the file away, or choose another file with output.",
        });
      }
      if (ctx.force && doc.last_run_uuid !== ctx.run.runUuid) doc = { builds: null, last_run_uuid: "" };
      doc = { builds: [...(doc.builds ?? []), entry], last_run_uuid: ctx.run.runUuid };

      const tmp = tempNameFor(output);
      try {
        await writeFile(tmp, encodeManifest(doc), { mode: 0o664 });
        if (mode !== undefined) await chmod(tmp, mode);
        await rename(tmp, output);
      } catch (err) {
        await removeQuietly(tmp);
        throw ppError(TYPE, CODES.failed, `cannot write ${output}: ${messageOf(err)}`, { cause: err });
      }
    }).catch(async (err: unknown) => {
      await removeMadeDirs(); // only the folders this run made, and only while empty
      throw err;
    });
    ctx.ui.say(`Added ${entry.name} (${ctx.artifact.id || "no id"}) to ${output}`);
    // Packer's manifest returns its input: later post-processors in the chain see the artifact.
    return { artifact: ctx.artifact, keepInput: true };
  },
};
