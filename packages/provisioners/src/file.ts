/**
 * file: upload files and folders to the machine, or download them from it, as Packer's file
 * provisioner does.
 *
 * - Upload (default): source / sources are local paths (relative to the build file's folder);
 *   content writes the given text to destination instead.
 * - A folder source without a trailing `/` is copied as a folder into destination
 *   (`/src/foo` → `<destination>/foo`); with a trailing `/` its contents are copied into
 *   destination (`/src/foo/` → `<destination>/...`).
 * - A file source goes to destination, or to `<destination>/<name>` when destination ends in `/`
 *   (required when there are several sources).
 * - direction: download does the same the other way round: sources are remote paths,
 *   destination is local.
 * - Missing folders on the receiving side are created; transfers are checked (size, sha256)
 *   by the communicator and reported with ui.progress.
 */

import { lstat, mkdir, readdir, stat } from "node:fs/promises";
import { basename, dirname, join, posix } from "node:path";
import { localPaths, type ProvisionContext, type ProvisionerRuntime } from "@kiln/core";
import { pathListProblems, pathProblem } from "@kiln/sdk";
import type { FileOptions } from "./schema.js";
import {
  CODES,
  messageOf,
  provError,
  resolveLocal,
  shellQuote,
  stringList,
  throwIfAborted,
  wrapError,
} from "./util.js";

const TYPE = "file";

export type { FileOptions } from "./schema.js";

const endsWithSlash = (p: string) => p.endsWith("/") || (process.platform === "win32" && p.endsWith("\\"));
const stripSlash = (p: string) => (p.length > 1 ? p.replace(/\/+$/, "") || "/" : p);

/** Total size of the regular files under a local folder. */
async function localSize(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) total += await localSize(p);
    else if (e.isFile()) total += (await stat(p)).size;
  }
  return total;
}

function sources(o: FileOptions): string[] {
  const list = [...(o.source ? [o.source] : []), ...(stringList(TYPE, "sources", o.sources) ?? [])];
  if (o.content !== undefined) {
    if (typeof o.content !== "string") throw provError(TYPE, CODES.options, "content must be a string");
    if (list.length > 0)
      throw provError(TYPE, CODES.options, "set either content or source/sources, not both");
    return [];
  }
  if (list.length === 0)
    throw provError(TYPE, CODES.options, "nothing to copy: set source, sources or content");
  if (list.some((s) => s === "")) throw provError(TYPE, CODES.options, "a source is empty");
  return list;
}

async function remoteMkdir(ctx: ProvisionContext<FileOptions>, dir: string): Promise<void> {
  if (dir === "" || dir === "." || dir === "/") return;
  let stderr = "";
  let r: Awaited<ReturnType<typeof ctx.communicator.exec>>;
  try {
    r = await ctx.communicator.exec(`mkdir -p -- ${shellQuote(dir)}`, {
      signal: ctx.signal,
      onStderr: (c) => (stderr += c),
    });
  } catch (err) {
    throwIfAborted(ctx.signal, TYPE);
    throw wrapError(TYPE, `could not create ${dir} on the machine`, err);
  }
  if (r.exitCode !== 0)
    throw provError(
      TYPE,
      CODES.failed,
      `could not create ${dir} on the machine: ${stderr.trim() || `mkdir exited with code ${String(r.exitCode)}`}`,
    );
}

/** "dir", "file" or "missing", for a path on the machine. */
async function remoteKind(
  ctx: ProvisionContext<FileOptions>,
  path: string,
): Promise<"dir" | "file" | "missing"> {
  let out = "";
  const q = shellQuote(path);
  try {
    await ctx.communicator.exec(
      `if [ -d ${q} ]; then echo dir; elif [ -e ${q} ]; then echo file; else echo missing; fi`,
      {
        signal: ctx.signal,
        onStdout: (c) => (out += c),
      },
    );
  } catch (err) {
    throwIfAborted(ctx.signal, TYPE);
    throw wrapError(TYPE, `could not look at ${path} on the machine`, err);
  }
  const kind = out.trim();
  return kind === "dir" || kind === "file" ? kind : "missing";
}

async function upload(ctx: ProvisionContext<FileOptions>, list: string[]): Promise<void> {
  const o = ctx.options;
  const { ui, communicator: comm } = ctx;
  const dest = o.destination;
  if (o.content !== undefined) {
    if (endsWithSlash(dest))
      throw provError(TYPE, CODES.options, `destination ${dest} ends with / but content needs a file name`);
    ui.say(`Uploading content to ${dest}`);
    const body = Buffer.from(o.content);
    await remoteMkdir(ctx, posix.dirname(dest));
    try {
      await comm.upload(body, dest, { onProgress: (d, t) => ui.progress(`upload:${dest}`, dest, d, t) });
    } catch (err) {
      throwIfAborted(ctx.signal, TYPE);
      throw wrapError(TYPE, `uploading content to ${dest} failed`, err);
    }
    return;
  }
  // Check every source before copying any, so a typo does not leave half a copy behind.
  const items: { src: string; local: string; dir: boolean }[] = [];
  for (const src of list) {
    const local = resolveLocal(ctx, src);
    try {
      const st = await stat(local);
      if (!st.isDirectory() && !st.isFile())
        throw provError(TYPE, CODES.options, `source ${src} (${local}) is neither a file nor a folder`);
      items.push({ src, local, dir: st.isDirectory() });
    } catch (err) {
      if ((err as { isKilnError?: boolean }).isKilnError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      throw provError(
        TYPE,
        CODES.options,
        `source ${src} does not exist (${local})${code && code !== "ENOENT" ? `: ${code}` : ""}`,
        {
          hint: o.generated
            ? "It is marked generated: the step that creates it must run before this provisioner."
            : "Paths are relative to the folder of the build file; set generated: true for files an earlier step creates.",
        },
      );
    }
  }
  for (const it of items) {
    throwIfAborted(ctx.signal, TYPE);
    if (it.dir) {
      const target = endsWithSlash(it.src) ? stripSlash(dest) : posix.join(dest, basename(it.local));
      ui.say(`Uploading ${it.src} => ${target}`);
      const total = await localSize(it.local);
      const id = `upload:${target}`;
      ui.progress(id, target, 0, total);
      try {
        await comm.uploadDir(it.local, target);
      } catch (err) {
        throwIfAborted(ctx.signal, TYPE);
        throw wrapError(TYPE, `uploading ${it.src} to ${target} failed`, err);
      }
      ui.progress(id, target, total, total);
    } else {
      const target = endsWithSlash(dest) ? posix.join(dest, basename(it.local)) : dest;
      ui.say(`Uploading ${it.src} => ${target}`);
      await remoteMkdir(ctx, posix.dirname(target));
      try {
        await comm.upload(it.local, target, {
          onProgress: (d, t) => ui.progress(`upload:${target}`, target, d, t),
        });
      } catch (err) {
        throwIfAborted(ctx.signal, TYPE);
        throw wrapError(TYPE, `uploading ${it.src} to ${target} failed`, err);
      }
    }
  }
}

async function isLocalDir(p: string): Promise<boolean> {
  try {
    return (await lstat(p)).isDirectory() || (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

async function download(ctx: ProvisionContext<FileOptions>, list: string[]): Promise<void> {
  const o = ctx.options;
  const { ui, communicator: comm } = ctx;
  if (o.content !== undefined)
    throw provError(TYPE, CODES.options, "content can only be uploaded (direction: upload)");
  const destLocal = resolveLocal(ctx, o.destination);
  const destIsFolder = endsWithSlash(o.destination) || (await isLocalDir(destLocal));
  const items: { src: string; kind: "dir" | "file" }[] = [];
  for (const src of list) {
    const kind = await remoteKind(ctx, stripSlash(src));
    if (kind === "missing")
      throw provError(TYPE, CODES.options, `source ${src} does not exist on the machine`);
    items.push({ src, kind });
  }
  for (const { src, kind } of items) {
    throwIfAborted(ctx.signal, TYPE);
    const remote = stripSlash(src);
    try {
      if (kind === "dir") {
        const target = endsWithSlash(src) ? destLocal : join(destLocal, posix.basename(remote));
        ui.say(`Downloading ${src} => ${target}`);
        ui.progress(`download:${target}`, target, 0);
        await mkdir(target, { recursive: true });
        await comm.downloadDir(remote, target);
        const size = await localSize(target);
        ui.progress(`download:${target}`, target, size, size);
      } else {
        const target = destIsFolder ? join(destLocal, posix.basename(remote)) : destLocal;
        ui.say(`Downloading ${src} => ${target}`);
        await mkdir(dirname(target), { recursive: true });
        await comm.download(remote, target, {
          onProgress: (d, t) => ui.progress(`download:${target}`, target, d, t),
        });
      }
    } catch (err) {
      throwIfAborted(ctx.signal, TYPE);
      throw wrapError(TYPE, `downloading ${src} failed`, err);
    }
  }
}

export const file: ProvisionerRuntime<FileOptions> = {
  // Checkpoints: what it uploads. A download writes here, which a restored run would not redo.
  checkpointInputs: (o) => (o.direction === "download" ? false : localPaths(o.source, o.sources)),
  // What is uploaded must exist, unless an earlier step makes it (generated: true).
  check: (o, ctx) =>
    o.direction !== "upload" || o.generated || o.content !== undefined
      ? []
      : [
          ...pathProblem(ctx, ["source"], o.source, "any"),
          ...pathListProblems(ctx, "sources", o.sources, "any"),
        ],
  async provision(ctx) {
    const o = ctx.options;
    if (typeof o.destination !== "string" || o.destination === "")
      throw provError(TYPE, CODES.options, "destination is required");
    const direction = o.direction;
    if (direction !== "upload" && direction !== "download") {
      throw provError(TYPE, CODES.options, `direction must be upload or download, not ${String(direction)}`);
    }
    const list = sources(o);
    if (list.length > 1 && !endsWithSlash(o.destination)) {
      throw provError(
        TYPE,
        CODES.options,
        `destination ${o.destination} must end with / when there are several sources`,
        {
          hint: "A destination ending in / is a folder the sources are copied into.",
        },
      );
    }
    try {
      if (direction === "upload") await upload(ctx, list);
      else await download(ctx, list);
    } catch (err) {
      throwIfAborted(ctx.signal, TYPE);
      if ((err as { isKilnError?: boolean }).isKilnError) throw err;
      throw provError(TYPE, CODES.failed, messageOf(err), { cause: err });
    }
  },
};
