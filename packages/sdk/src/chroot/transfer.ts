/**
 * The chroot communicator's file transfers: copies between this machine's files and the chroot's,
 * each path inside the chroot resolved as the chroot sees it (paths.ts) and opened with
 * O_NOFOLLOW. Same contract as the SSH communicator: an upload does not create missing parent
 * folders, uploadDir/downloadDir copy a folder's contents (making the target folder), keep
 * symbolic links as links and file modes, and files are checked (size and sha256) afterwards.
 */
import { createHash, randomBytes } from "node:crypto";
import { constants, createReadStream } from "node:fs";
import {
  chmod,
  lstat,
  mkdir,
  open,
  readdir,
  readlink,
  rename,
  rm,
  stat,
  symlink,
  unlink,
} from "node:fs/promises";
import { dirname, join, posix } from "node:path";
import type { TransferOptions, UploadOptions } from "@kiln/core";
import { CommunicatorError } from "../communicator/errors.js";
import { uploadTree } from "../communicator/upload-tree.js";
import { insideRoot, resolveInRoot } from "./paths.js";

const CHUNK = 1024 * 1024;

function failed(what: string, err: unknown): CommunicatorError {
  if (CommunicatorError.is(err)) return err;
  const code = (err as { code?: string }).code;
  const reason =
    code === "ENOENT"
      ? "no such file or folder"
      : code === "EACCES" || code === "EPERM"
        ? "permission denied (kiln copies files into the chroot itself: run it as root)"
        : code === "ELOOP"
          ? "a symbolic link was put in its place meanwhile"
          : code === "EISDIR"
            ? "it is a folder"
            : err instanceof Error
              ? err.message
              : String(err);
  return new CommunicatorError("KILN_CHROOT_TRANSFER_FAILED", `${what}: ${reason}`, { cause: err });
}

async function sha256Of(path: string): Promise<{ bytes: number; sha256: string }> {
  const h = createHash("sha256");
  let bytes = 0;
  const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    for await (const c of fh.createReadStream({ highWaterMark: CHUNK, autoClose: false })) {
      h.update(c as Buffer);
      bytes += (c as Buffer).length;
    }
  } finally {
    await fh.close();
  }
  return { bytes, sha256: h.digest("hex") };
}

async function* chunksOf(src: string | Buffer): AsyncGenerator<Buffer> {
  if (Buffer.isBuffer(src)) {
    for (let i = 0; i < src.length; i += CHUNK) yield src.subarray(i, i + CHUNK);
    return;
  }
  for await (const c of createReadStream(src, { highWaterMark: CHUNK })) yield c as Buffer;
}

/** Write `src` to the host file `dest` (no link followed there), with `mode`; returns size and sha256. */
async function writeFileNoFollow(
  src: string | Buffer,
  dest: string,
  mode: number,
  total: number,
  onProgress?: (done: number, total: number) => void,
): Promise<{ bytes: number; sha256: string }> {
  const fh = await open(
    dest,
    constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW,
    mode,
  );
  const h = createHash("sha256");
  let bytes = 0;
  try {
    onProgress?.(0, total);
    for await (const c of chunksOf(src)) {
      await fh.write(c);
      h.update(c);
      bytes += c.length;
      onProgress?.(bytes, Math.max(total, bytes));
    }
    await fh.chmod(mode);
  } finally {
    await fh.close();
  }
  return { bytes, sha256: h.digest("hex") };
}

async function verify(path: string, shown: string, sent: { bytes: number; sha256: string }): Promise<void> {
  const got = await sha256Of(path);
  if (got.bytes !== sent.bytes || got.sha256 !== sent.sha256)
    throw new CommunicatorError(
      "KILN_CHROOT_TRANSFER_FAILED",
      `${shown} does not hold what was written (${got.bytes} of ${sent.bytes} bytes, sha256 ${got.sha256.slice(0, 12)}…)`,
    );
}

export async function upload(
  root: string,
  src: string | Buffer,
  remotePath: string,
  opts: UploadOptions = {},
) {
  const what = `upload of ${typeof src === "string" ? src : "data"} to ${remotePath} in the chroot failed`;
  try {
    const dest = await resolveInRoot(root, remotePath);
    const parent = await stat(dirname(dest)).catch(() => undefined);
    if (!parent?.isDirectory())
      throw new CommunicatorError(
        "KILN_CHROOT_TRANSFER_FAILED",
        `${what}: the folder ${insideRoot(root, dirname(dest))} does not exist in the chroot`,
      );
    let mode = opts.mode ?? 0o644;
    let total = Buffer.isBuffer(src) ? src.length : 0;
    if (typeof src === "string") {
      const st = await stat(src);
      if (!st.isFile())
        throw new CommunicatorError("KILN_CHROOT_TRANSFER_FAILED", `${what}: ${src} is not a file`);
      mode = opts.mode ?? st.mode & 0o7777;
      total = st.size;
    }
    const sent = await writeFileNoFollow(src, dest, mode, total, opts.onProgress);
    if (opts.verify !== false) await verify(dest, remotePath, sent);
  } catch (err) {
    throw failed(what, err);
  }
}

/** Copy a host file in the chroot to `localPath` (through a temporary name, renamed into place). */
async function copyOut(
  from: string,
  shown: string,
  localPath: string,
  onProgress?: (d: number, t: number) => void,
) {
  const fh = await open(from, constants.O_RDONLY | constants.O_NOFOLLOW);
  const tmp = `${localPath}.kiln-partial-${randomBytes(4).toString("hex")}`;
  let ok = false;
  try {
    const st = await fh.stat();
    if (!st.isFile())
      throw new CommunicatorError(
        "KILN_CHROOT_TRANSFER_FAILED",
        `${shown} in the chroot is not a regular file`,
      );
    const out = await open(tmp, "wx", 0o600);
    const h = createHash("sha256");
    let bytes = 0;
    try {
      onProgress?.(0, st.size);
      for await (const c of fh.createReadStream({ highWaterMark: CHUNK, autoClose: false })) {
        await out.write(c as Buffer);
        h.update(c as Buffer);
        bytes += (c as Buffer).length;
        onProgress?.(bytes, Math.max(st.size, bytes));
      }
    } finally {
      await out.close();
    }
    await chmod(tmp, st.mode & 0o7777);
    await rename(tmp, localPath);
    ok = true;
    return { bytes, sha256: h.digest("hex") };
  } finally {
    await fh.close().catch(() => {});
    if (!ok) await rm(tmp, { force: true }).catch(() => {});
  }
}

export async function download(
  root: string,
  remotePath: string,
  localPath: string,
  opts: TransferOptions = {},
) {
  const what = `download of ${remotePath} from the chroot to ${localPath} failed`;
  try {
    const from = await resolveInRoot(root, remotePath);
    const got = await copyOut(from, remotePath, localPath, opts.onProgress);
    if (opts.verify !== false) await verify(localPath, localPath, got);
  } catch (err) {
    throw failed(what, err);
  }
}

/** Make `remoteDir` (and missing parents) in the chroot; true when the folder itself was made. */
async function mkdirInRoot(root: string, remoteDir: string): Promise<{ host: string; created: boolean }> {
  const host = await resolveInRoot(root, remoteDir);
  const st = await stat(host).catch(() => undefined);
  if (st) {
    if (!st.isDirectory())
      throw new CommunicatorError(
        "KILN_CHROOT_TRANSFER_FAILED",
        `${remoteDir} in the chroot exists and is not a folder`,
      );
    return { host, created: false };
  }
  const parent = posix.dirname(posix.resolve("/", remoteDir));
  if (parent !== posix.resolve("/", remoteDir)) await mkdirInRoot(root, parent);
  // Resolved again: the parent may be a link that was just followed.
  const again = await resolveInRoot(root, remoteDir);
  await mkdir(again);
  return { host: again, created: true };
}

export async function uploadDir(root: string, localDir: string, remoteDir: string): Promise<void> {
  const what = `upload of folder ${localDir} to ${remoteDir} in the chroot failed`;
  try {
    const top = await stat(localDir);
    if (!top.isDirectory())
      throw new CommunicatorError("KILN_CHROOT_TRANSFER_FAILED", `${what}: ${localDir} is not a folder`);
    const modes: [string, number][] = [];
    const made = await mkdirInRoot(root, remoteDir);
    if (made.created) modes.push([made.host, top.mode & 0o7777]);
    // sockets, devices and pipes are skipped, as the SSH communicator does
    const inner = await uploadTree(localDir, remoteDir, {
      mkdir: async (r) => (await mkdirInRoot(root, r)).host,
      async file(l, r) {
        const st = await stat(l);
        const dest = await resolveInRoot(root, r);
        const sent = await writeFileNoFollow(l, dest, st.mode & 0o7777, st.size);
        await verify(dest, r, sent);
      },
      async link(l, r) {
        const dest = await resolveInRoot(root, r, { followFinal: false });
        const old = await lstat(dest).catch(() => undefined);
        if (old?.isDirectory())
          throw new CommunicatorError(
            "KILN_CHROOT_TRANSFER_FAILED",
            `${r} in the chroot is a folder, not a link`,
          );
        if (old) await unlink(dest);
        await symlink(await readlink(l), dest);
      },
    });
    modes.push(...inner);
    for (const [dir, mode] of modes) await chmod(dir, mode);
  } catch (err) {
    throw failed(what, err);
  }
}

export async function downloadDir(root: string, remoteDir: string, localDir: string): Promise<void> {
  const what = `download of folder ${remoteDir} from the chroot to ${localDir} failed`;
  try {
    const from = await resolveInRoot(root, remoteDir);
    const top = await stat(from).catch(() => undefined);
    if (!top?.isDirectory())
      throw new CommunicatorError(
        "KILN_CHROOT_TRANSFER_FAILED",
        `${what}: ${remoteDir} is not a folder in the chroot`,
      );
    const modes: [string, number][] = [];
    const had = await lstat(localDir).catch(() => undefined);
    if (!had) {
      await mkdir(localDir, { recursive: true });
      modes.push([localDir, top.mode & 0o7777]);
    }
    // The walk never follows a link: each entry is what lstat shows below `from`.
    const walk = async (host: string, remote: string, local: string): Promise<void> => {
      const entries = await readdir(host, { withFileTypes: true });
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const e of entries) {
        const h = join(host, e.name);
        const r = posix.join(remote, e.name);
        const l = join(local, e.name);
        if (e.isDirectory()) {
          const st = await lstat(h);
          await mkdir(l, { recursive: true });
          await walk(h, r, l);
          modes.push([l, st.mode & 0o7777]);
        } else if (e.isFile()) {
          const got = await copyOut(h, r, l);
          await verify(l, l, got);
        } else if (e.isSymbolicLink()) {
          await rm(l, { force: true });
          await symlink(await readlink(h), l);
        }
      }
    };
    await walk(from, remoteDir, localDir);
    for (const [dir, mode] of modes) await chmod(dir, mode);
  } catch (err) {
    throw failed(what, err);
  }
}
