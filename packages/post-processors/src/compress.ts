/**
 * compress: compress the artifact's file (gzip, xz, zstd) or archive its files (tar, tar.gz,
 * tar.xz, tar.zst), streaming, into one output file.
 *
 * - The format comes from `format`, else from the output's extension (.gz, .xz, .zst, .tar,
 *   .tar.gz/.tgz, .tar.xz/.txz, .tar.zst/.tzst); with neither, tar.gz, as Packer.
 * - gzip uses node:zlib; xz and zstd run the system `xz` / `zstd` programs (no xz or zstd
 *   library is installed in the workspace, and node:zlib has no zstd before Node 22.15).
 * - The output defaults to `{{.BuildName}}.<ext>` beside the (first) input file; relative
 *   outputs are relative to the build file's folder. It is written to a temporary name and
 *   renamed into place at the end; an existing output is replaced only with --force; partial
 *   output is removed on failure and on interrupt.
 * - Like Packer, the input artifact is not kept unless keep_input_artifact is set.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createReadStream, createWriteStream } from "node:fs";
import { lstat, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { Readable, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip, constants as zc } from "node:zlib";
import { Progress } from "./progress.js";
import { BY_SUFFIX, type CompressOptions, FORMATS, type Format } from "./schema.js";
import { contentSize, type TarInput, tarStream } from "./tar.js";
import type { Artifact, PostProcessContext, PostProcessorRuntime } from "./types.js";
import {
  abortError,
  CODES,
  exists,
  formatBytes,
  makeDirs,
  messageOf,
  ppError,
  removeQuietly,
  renderFields,
  resolvePath,
  templateFields,
  tempNameFor,
  which,
} from "./util.js";

const TYPE = "compress";

export type { CompressOptions } from "./schema.js";
export { FORMATS, type Format } from "./schema.js";

const EXTENSION: Record<Format, string> = {
  gzip: "gz",
  xz: "xz",
  zstd: "zst",
  tar: "tar",
  "tar.gz": "tar.gz",
  "tar.xz": "tar.xz",
  "tar.zst": "tar.zst",
};

/** Endings of formats Packer knows but kiln does not (yet): an error rather than a surprise. */
const UNSUPPORTED = [".zip", ".lz4", ".bz2", ".bzip2", ".bgzf", ".tbz2", ".tbz"];

const ALIASES: Record<string, Format> = { gz: "gzip", tgz: "tar.gz", zst: "zstd", "tar.zstd": "tar.zst" };

/** The format a file name implies, or undefined when its ending says nothing. */
export function formatFromName(name: string): Format | undefined {
  const lower = name.toLowerCase();
  for (const ext of UNSUPPORTED) {
    if (lower.endsWith(ext)) {
      throw ppError(TYPE, CODES.options, `output ${name}: the ${ext} format is not supported`, {
        hint: `Use one of ${FORMATS.join(", ")} (set format, or end output with .gz, .xz, .zst, .tar, .tar.gz …).`,
      });
    }
  }
  return BY_SUFFIX.find(([ext]) => lower.endsWith(ext))?.[1];
}

function parseFormat(value: unknown): Format | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  const v = typeof value === "string" ? value.toLowerCase().replace(/^\./, "") : value;
  if (typeof v === "string" && (FORMATS as readonly string[]).includes(v)) return v as Format;
  if (typeof v === "string" && ALIASES[v]) return ALIASES[v];
  throw ppError(TYPE, CODES.options, `unknown format ${JSON.stringify(value)}`, {
    hint: `Use one of ${FORMATS.join(", ")}.`,
  });
}

const SUPPORTED = BY_SUFFIX.map(([ext]) => ext).join(", ");

/**
 * The format: `format` when set (an output ending that says otherwise is the user's choice, with
 * a warning), else output's ending — one that names no supported format is an error rather
 * than a tar.gz under a misleading name — else tar.gz.
 */
function formatOf(
  ctx: PostProcessContext<CompressOptions>,
  value: unknown,
  output: string | undefined,
): Format {
  const explicit = parseFormat(value);
  if (explicit) {
    const named =
      output === undefined ? undefined : BY_SUFFIX.find(([ext]) => output.toLowerCase().endsWith(ext));
    if (output !== undefined && named?.[1] !== explicit) {
      ctx.ui.message(
        `warning: output ${output} ${named ? `ends in ${named[0]}, which is ${named[1]}` : "has no extension of a supported format"}; it is written as ${explicit}, as format says`,
      );
    }
    return explicit;
  }
  if (output === undefined) return "tar.gz";
  const named = formatFromName(output);
  if (named) return named;
  throw ppError(TYPE, CODES.options, `output ${output}: its extension names no supported format`, {
    hint: `End output with one of ${SUPPORTED}, or set format (${FORMATS.join(", ")}) to keep this name.`,
  });
}

type Algorithm = "gzip" | "xz" | "zstd" | undefined;

function split(format: Format): { tar: boolean; algorithm: Algorithm } {
  switch (format) {
    case "tar":
      return { tar: true, algorithm: undefined };
    case "tar.gz":
      return { tar: true, algorithm: "gzip" };
    case "tar.xz":
      return { tar: true, algorithm: "xz" };
    case "tar.zst":
      return { tar: true, algorithm: "zstd" };
    default:
      return { tar: false, algorithm: format };
  }
}

const LEVELS: Record<Exclude<Algorithm, undefined>, { min: number; max: number; default: number }> = {
  gzip: { min: 0, max: 9, default: 6 },
  xz: { min: 0, max: 9, default: 6 },
  zstd: { min: 1, max: 22, default: 3 },
};

function levelFor(algorithm: Algorithm, value: unknown): number | undefined {
  if (!algorithm) return undefined;
  const range = LEVELS[algorithm];
  if (value === undefined || value === null) return range.default;
  if (typeof value !== "number" || !Number.isInteger(value) || value < range.min || value > range.max) {
    throw ppError(
      TYPE,
      CODES.options,
      `compression_level ${JSON.stringify(value)} is out of range for ${algorithm} (${range.min}–${range.max})`,
    );
  }
  return value;
}

const TOOL_HINTS: Record<string, string> = {
  xz: "Install xz (Debian/Ubuntu: apt-get install xz-utils; Fedora: dnf install xz; macOS: brew install xz), or use gzip.",
  zstd: "Install zstd (Debian/Ubuntu: apt-get install zstd; Fedora: dnf install zstd; macOS: brew install zstd), or use gzip.",
};

/** A running external compressor: data in on stdin, compressed data out on stdout. */
interface External {
  child: ChildProcess;
  done: Promise<void>;
}

function startExternal(program: string, args: string[], name: string): External {
  const child = spawn(program, args, { stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (d: string) => {
    if (stderr.length < 4000) stderr += d;
  });
  const done = new Promise<void>((resolve, reject) => {
    child.once("error", (err) =>
      reject(ppError(TYPE, CODES.failed, `cannot run ${program}: ${err.message}`, { cause: err })),
    );
    child.once("close", (code, signal) => {
      if (code === 0) resolve();
      else {
        const why = signal ? `was killed by ${signal}` : `exited with code ${code}`;
        reject(ppError(TYPE, CODES.failed, `${name} ${why}${stderr.trim() ? `: ${stderr.trim()}` : ""}`));
      }
    });
  });
  done.catch(() => {}); // observed by the caller; avoid an unhandled rejection meanwhile
  return { child, done };
}

/** A file's bytes, counted for progress as they are read. */
async function* readChunks(
  path: string,
  signal: AbortSignal,
  onData: (n: number) => void,
): AsyncGenerator<Buffer> {
  for await (const chunk of createReadStream(path, {
    highWaterMark: 1 << 20,
    signal,
  }) as AsyncIterable<Buffer>) {
    onData(chunk.length);
    yield chunk;
  }
}

export const compress: PostProcessorRuntime<CompressOptions> = {
  async postProcess(ctx: PostProcessContext<CompressOptions>) {
    const o = ctx.options;
    const files = ctx.artifact.files.map((f) => resolvePath(ctx, f));
    if (files.length === 0) {
      throw ppError(
        TYPE,
        CODES.input,
        `the artifact "${ctx.artifact.id}" from ${ctx.artifact.builderType} has no files to compress`,
      );
    }
    if (o.output !== undefined && (typeof o.output !== "string" || o.output.trim() === "")) {
      throw ppError(TYPE, CODES.options, "output must be a non-empty file name");
    }
    const fields = templateFields(ctx);
    const rendered = o.output === undefined ? undefined : renderFields(TYPE, "output", o.output, fields);
    const format = formatOf(ctx, o.format, rendered);
    const { tar, algorithm } = split(format);
    const level = levelFor(algorithm, o.compression_level);
    const output =
      rendered !== undefined
        ? resolvePath(ctx, rendered)
        : join(
            dirname(files[0] as string),
            `${renderFields(TYPE, "output", "{{.BuildName}}", fields)}.${EXTENSION[format]}`,
          );

    // Check the inputs.
    const names = new Map<string, string>();
    for (const f of files) {
      let s: Awaited<ReturnType<typeof lstat>>;
      try {
        s = await lstat(f);
      } catch (err) {
        throw ppError(TYPE, CODES.input, `cannot read ${f}: ${messageOf(err)}`, { cause: err });
      }
      if (!tar && !s.isFile()) {
        throw ppError(TYPE, CODES.input, `${f} is not a regular file; ${format} compresses one file`, {
          hint: "Use a tar format, e.g. format: tar.gz.",
        });
      }
      const other = names.get(basename(f));
      if (other !== undefined && other !== f) {
        throw ppError(
          TYPE,
          CODES.input,
          `${other} and ${f} would have the same name (${basename(f)}) in the archive`,
        );
      }
      names.set(basename(f), f);
      if (f === output)
        throw ppError(TYPE, CODES.options, `output ${output} is one of the files to compress`);
    }
    if (!tar && files.length !== 1) {
      throw ppError(
        TYPE,
        CODES.input,
        `${format} compresses one file, but the artifact has ${files.length}: ${files.join(", ")}`,
        {
          hint: `Use a tar format, e.g. format: tar.${EXTENSION[format]}`,
        },
      );
    }

    // Find the external compressor first: fail before anything is written.
    let program: string | undefined;
    if (algorithm === "xz" || algorithm === "zstd") {
      program = await which(algorithm);
      if (!program) {
        throw ppError(
          TYPE,
          CODES.toolMissing,
          `${format} needs the ${algorithm} program, which is not on PATH`,
          { hint: TOOL_HINTS[algorithm] },
        );
      }
    }

    if (!ctx.force && (await exists(output))) {
      throw ppError(TYPE, CODES.exists, `output ${output} already exists`, {
        hint: "Remove it, choose another output, or run with --force to replace it.",
      });
    }
    const tmp = tempNameFor(output);
    const inputs: TarInput[] = files.map((f) => ({ path: f, name: basename(f) }));
    const total = tar ? await contentSize(inputs) : (await stat(files[0] as string)).size;
    const label = `${format} ${tar ? `of ${files.length} file${files.length === 1 ? "" : "s"}` : basename(files[0] as string)} → ${basename(output)}`;
    ctx.ui.say(
      `Compressing ${tar ? files.map((f) => basename(f)).join(", ") : files[0]} into ${output} (${format}${level !== undefined ? `, level ${level}` : ""})`,
    );
    const progress = new Progress(ctx.ui, `compress:${output}`, label, total);

    const removeMadeDirs = await makeDirs(TYPE, dirname(output));
    let external: External | undefined;
    const onAbort = () => external?.child.kill("SIGKILL");
    ctx.signal.addEventListener("abort", onAbort, { once: true });
    try {
      if (ctx.signal.aborted) throw abortError(ctx.signal, TYPE);
      const source: Readable = tar
        ? Readable.from(
            tarStream(inputs, {
              signal: ctx.signal,
              exclude: new Set([tmp, output]),
              onData: (n) => progress.add(n),
            }),
            {
              objectMode: false,
            },
          )
        : Readable.from(
            readChunks(files[0] as string, ctx.signal, (n) => progress.add(n)),
            { objectMode: false },
          );
      const sink: Writable = createWriteStream(tmp, { flags: "wx", mode: 0o644 });

      if (algorithm === "gzip") {
        await pipeline(
          source,
          createGzip({ level: level ?? zc.Z_DEFAULT_COMPRESSION, chunkSize: 1 << 16 }),
          sink,
          { signal: ctx.signal },
        );
      } else if (algorithm === "xz" || algorithm === "zstd") {
        const args =
          algorithm === "xz"
            ? ["-z", "-c", "-q", `-${level}`, "-T0"]
            : ["-c", "-q", ...(level !== undefined && level > 19 ? ["--ultra"] : []), `-${level}`, "-T0"];
        const ext = startExternal(program as string, args, algorithm);
        external = ext;
        const stdin = ext.child.stdin as Writable;
        const stdout = ext.child.stdout as Readable;
        const results = await Promise.allSettled([
          pipeline(source, stdin, { signal: ctx.signal }),
          pipeline(stdout, sink, { signal: ctx.signal }),
        ]);
        const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
        if (failed) {
          ext.child.kill("SIGKILL");
          await ext.done.catch(() => {});
          throw failed.reason;
        }
        await ext.done;
      } else {
        await pipeline(source, sink, { signal: ctx.signal });
      }
      if (ctx.signal.aborted) throw abortError(ctx.signal, TYPE);
      if (!ctx.force && (await exists(output))) {
        throw ppError(TYPE, CODES.exists, `output ${output} appeared while it was being written`, {
          hint: "Another run writes the same output; choose distinct outputs, or run with --force.",
        });
      }
      await rename(tmp, output);
    } catch (err) {
      external?.child.kill("SIGKILL");
      await removeQuietly(tmp);
      await removeMadeDirs();
      if (ctx.signal.aborted) throw abortError(ctx.signal, TYPE);
      if (err && typeof err === "object" && (err as { isKilnError?: boolean }).isKilnError) throw err;
      throw ppError(TYPE, CODES.failed, `cannot write ${output}: ${messageOf(err)}`, { cause: err });
    } finally {
      ctx.signal.removeEventListener("abort", onAbort);
    }
    progress.finish();
    const size = (await stat(output)).size;
    ctx.ui.say(`Archive ${output} completed (${formatBytes(size)})`);

    const artifact: Artifact = {
      builderType: TYPE,
      id: ctx.artifact.id,
      files: [output],
      description: `compressed artifacts in: ${output}`,
      data: { ...(ctx.artifact.data ?? {}), format, compressedFrom: [...ctx.artifact.files] },
      destroy: async () => {
        await rm(output, { force: true });
      },
    };
    return { artifact, keepInput: false };
  },
};
