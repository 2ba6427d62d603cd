/**
 * checksum: write checksum files of the artifact's files, one per checksum type by default
 * (`packer_{{.BuildName}}_{{.BuilderType}}_{{.ChecksumType}}.checksum`, as Packer), in the
 * format `sha256sum`/`md5sum` write and check (`<hex>  <file name>`).
 *
 * Each file is read once, streaming, and fed to every requested hash. A checksum file that
 * exists already keeps its lines for other files; lines for the files checksummed now are
 * replaced (Packer appends, which leaves stale, conflicting lines behind). Writers of the same
 * checksum file take turns through `<file>.lock`; each file is written to a temporary name and
 * renamed into place.
 */
import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";
import { chmod, readFile, rename, stat, writeFile } from "node:fs/promises";
import { basename, dirname } from "node:path";
import { withLock } from "./lock.js";
import { Progress } from "./progress.js";
import { CHECKSUM_TYPES, type ChecksumOptions } from "./schema.js";
import type { Artifact, PostProcessContext, PostProcessorRuntime } from "./types.js";
import {
  abortError,
  CODES,
  makeDirs,
  messageOf,
  ppError,
  removeQuietly,
  renderFields,
  resolvePath,
  templateFields,
  tempNameFor,
  throwIfAborted,
} from "./util.js";

const TYPE = "checksum";

export type { ChecksumOptions } from "./schema.js";
export { CHECKSUM_TYPES } from "./schema.js";
export type ChecksumType = (typeof CHECKSUM_TYPES)[number];

/** Hash one file with several algorithms in one streaming pass. */
export async function hashFile(
  path: string,
  types: readonly ChecksumType[],
  opts: { signal?: AbortSignal; onData?: (n: number) => void } = {},
): Promise<Record<ChecksumType, string>> {
  const hashes: [ChecksumType, Hash][] = types.map((t) => [t, createHash(t)]);
  const stream = createReadStream(path, {
    highWaterMark: 1 << 20,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    for (const [, h] of hashes) h.update(chunk);
    opts.onData?.(chunk.length);
  }
  const out = {} as Record<ChecksumType, string>;
  for (const [t, h] of hashes) out[t] = h.digest("hex");
  return out;
}

/** A line as GNU coreutils writes it: names with a backslash or newline are escaped. */
export function checksumLine(hex: string, name: string): string {
  if (/[\\\n\r]/.test(name)) {
    const escaped = name.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/\r/g, "\\r");
    return `\\${hex}  ${escaped}\n`;
  }
  return `${hex}  ${name}\n`;
}

/** The file name a checksum line is about (GNU, BSD-binary ` *` and Packer's tab forms), if any. */
export function lineFileName(line: string): string | undefined {
  const m = /^(\\?)[0-9a-fA-F]+(?: {2}| \*|\t)(.*)$/.exec(line);
  if (!m) return undefined;
  const name = m[2] as string;
  if (!m[1]) return name;
  return name.replace(/\\(\\|n|r)/g, (_, c: string) => (c === "n" ? "\n" : c === "r" ? "\r" : "\\"));
}

function checkTypes(value: unknown): ChecksumType[] {
  if (!Array.isArray(value))
    throw ppError(TYPE, CODES.options, "checksum_types must be a list, e.g. [sha256]");
  if (value.length === 0) {
    throw ppError(TYPE, CODES.options, "checksum_types is empty", {
      hint: "List at least one of md5, sha1, sha224, sha256, sha384, sha512.",
    });
  }
  const out: ChecksumType[] = [];
  for (const t of value) {
    const lower = typeof t === "string" ? t.toLowerCase() : t;
    if (!CHECKSUM_TYPES.includes(lower as ChecksumType)) {
      throw ppError(TYPE, CODES.options, `unknown checksum type ${JSON.stringify(t)}`, {
        hint: `Use one of ${CHECKSUM_TYPES.join(", ")}.`,
      });
    }
    if (!out.includes(lower as ChecksumType)) out.push(lower as ChecksumType);
  }
  return out;
}

/** Merge new lines into an existing checksum file's text: lines about the same files are replaced. */
export function mergeChecksumText(existing: string, lines: { name: string; line: string }[]): string {
  const names = new Set(lines.map((l) => l.name));
  const kept = existing
    .split("\n")
    .filter((l, i, all) => !(i === all.length - 1 && l === ""))
    .filter((l) => {
      const n = lineFileName(l);
      return n === undefined || !names.has(n);
    })
    .map((l) => `${l}\n`);
  return kept.join("") + lines.map((l) => l.line).join("");
}

/**
 * Write (or merge into) one checksum file. Returns whether it created the file, and a function
 * that removes the folders it made for it (while they are empty).
 */
async function writeChecksumFile(
  ctx: PostProcessContext<ChecksumOptions>,
  target: string,
  lines: { name: string; line: string }[],
): Promise<{ created: boolean; removeMadeDirs: () => Promise<void> }> {
  const removeMadeDirs = await makeDirs(TYPE, dirname(target));
  try {
    const created = await withLock(`${target}.lock`, { type: TYPE, signal: ctx.signal }, async () => {
      let existing = "";
      let mode: number | undefined;
      let isNew = true;
      try {
        existing = await readFile(target, "utf8");
        mode = (await stat(target)).mode & 0o7777;
        isNew = false;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
          throw ppError(TYPE, CODES.failed, `cannot read ${target}: ${messageOf(err)}`, { cause: err });
        }
      }
      const tmp = tempNameFor(target);
      try {
        await writeFile(tmp, mergeChecksumText(existing, lines), { mode: 0o644 });
        if (mode !== undefined) await chmod(tmp, mode);
        throwIfAborted(ctx.signal, TYPE);
        await rename(tmp, target);
      } catch (err) {
        await removeQuietly(tmp);
        if (ctx.signal.aborted) throw abortError(ctx.signal, TYPE);
        throw ppError(TYPE, CODES.failed, `cannot write ${target}: ${messageOf(err)}`, { cause: err });
      }
      return isNew;
    });
    return { created, removeMadeDirs };
  } catch (err) {
    await removeMadeDirs();
    throw err;
  }
}

export const checksum: PostProcessorRuntime<ChecksumOptions> = {
  async postProcess(ctx: PostProcessContext<ChecksumOptions>) {
    const o = ctx.options;
    const types = checkTypes(o.checksum_types);
    const template = o.output;
    if (typeof template !== "string" || template.trim() === "")
      throw ppError(TYPE, CODES.options, "output must be a non-empty file name");
    const fields = templateFields(ctx);
    const targets = new Map<ChecksumType, string>();
    for (const t of types)
      targets.set(
        t,
        resolvePath(ctx, renderFields(TYPE, "output", template, { ...fields, ChecksumType: t })),
      );

    const inputs = ctx.artifact.files.map((f) => resolvePath(ctx, f));
    if (inputs.length === 0) {
      throw ppError(
        TYPE,
        CODES.input,
        `the artifact "${ctx.artifact.id}" from ${ctx.artifact.builderType} has no files to checksum`,
        {
          hint: "Use checksum after builders and post-processors that produce files.",
        },
      );
    }
    const seen = new Map<string, string>();
    for (const f of inputs) {
      let s: Awaited<ReturnType<typeof stat>>;
      try {
        s = await stat(f);
      } catch (err) {
        throw ppError(TYPE, CODES.input, `cannot read ${f}: ${messageOf(err)}`, { cause: err });
      }
      if (!s.isFile()) throw ppError(TYPE, CODES.input, `${f} is not a regular file`);
      const other = seen.get(basename(f));
      if (other !== undefined && other !== f) {
        throw ppError(
          TYPE,
          CODES.input,
          `${other} and ${f} have the same name, so their checksum lines would be ambiguous`,
        );
      }
      seen.set(basename(f), f);
    }
    for (const t of targets.values()) {
      if (inputs.includes(t))
        throw ppError(TYPE, CODES.options, `output ${t} is one of the files to checksum`);
    }

    // Hash every file once, for all types.
    const sums = new Map<string, Record<ChecksumType, string>>();
    for (const f of inputs) {
      throwIfAborted(ctx.signal, TYPE);
      const total = (await stat(f)).size;
      const progress = new Progress(ctx.ui, `checksum:${f}`, `${types.join(", ")} of ${basename(f)}`, total);
      try {
        sums.set(f, await hashFile(f, types, { signal: ctx.signal, onData: (n) => progress.add(n) }));
      } catch (err) {
        if (ctx.signal.aborted) throw abortError(ctx.signal, TYPE);
        throw ppError(TYPE, CODES.failed, `cannot read ${f}: ${messageOf(err)}`, { cause: err });
      }
      progress.finish();
    }

    // Group the lines by checksum file (several types share one when output has no {{.ChecksumType}}).
    const byTarget = new Map<string, { name: string; line: string }[]>();
    for (const t of types) {
      const target = targets.get(t) as string;
      const list = byTarget.get(target) ?? [];
      for (const f of inputs) {
        const name = basename(f);
        list.push({ name, line: checksumLine((sums.get(f) as Record<ChecksumType, string>)[t], name) });
      }
      byTarget.set(target, list);
    }
    const created: string[] = [];
    const madeDirs: (() => Promise<void>)[] = [];
    try {
      for (const [target, lines] of byTarget) {
        throwIfAborted(ctx.signal, TYPE);
        const w = await writeChecksumFile(ctx, target, lines);
        if (w.created) created.push(target);
        madeDirs.push(w.removeMadeDirs);
        ctx.ui.say(`Wrote ${target}`);
      }
    } catch (err) {
      // Leave nothing half-done behind: remove the checksum files this run created, then the
      // folders made for them.
      for (const f of created) await removeQuietly(f);
      for (const remove of madeDirs.reverse()) await remove();
      throw err;
    }

    const checksums: Record<string, Record<string, string>> = {};
    for (const t of types) {
      checksums[t] = {};
      for (const f of inputs)
        (checksums[t] as Record<string, string>)[f] = (sums.get(f) as Record<ChecksumType, string>)[t];
    }
    const outputs = [...byTarget.keys()];
    const artifact: Artifact = {
      builderType: TYPE,
      id: ctx.artifact.id,
      // As Packer: downstream post-processors see the checksummed files and the checksum files.
      files: [...ctx.artifact.files, ...outputs],
      description: `${types.join(", ")} checksums of ${inputs.map((f) => basename(f)).join(", ")} in ${outputs.join(", ")}`,
      data: { ...(ctx.artifact.data ?? {}), checksums, checksumFiles: outputs },
      // Removes only the checksum files this run created, never the checksummed files.
      destroy: async () => {
        for (const f of created) await removeQuietly(f);
      },
    };
    return { artifact, keepInput: true };
  },
};
