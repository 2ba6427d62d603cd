/** Uploads and downloads of files and directories over SFTP (or `cat`), verified afterwards. */
import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { chmod, lstat, mkdir, readlink, rename, rm, stat, symlink } from "node:fs/promises";
import { join, posix } from "node:path";
import type { SFTPWrapper } from "ssh2";
import { CommunicatorError } from "../errors.js";
import {
  readChunks,
  S_IFDIR,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  sftpChmod,
  sftpClose,
  sftpFchmod,
  sftpFstat,
  sftpMkdir,
  sftpOpen,
  sftpReaddir,
  sftpReadlink,
  sftpStat,
  sftpSymlink,
  sftpUnlink,
  writeChunks,
  writeLocal,
} from "../sftp.js";
import type { TransferOptions, UploadOptions } from "../types.js";
import { uploadTree } from "../upload-tree.js";
import { describeError } from "./errors.js";
import type { SSHLink } from "./link.js";
import { requireSftp, sftpOrFallback } from "./sftp-session.js";
import { getViaShell, putViaShell } from "./shell-transfer.js";
import { openSource } from "./source.js";
import { verifyDownloaded, verifyRemote, verifyViaShell } from "./verify.js";

function transferError(what: string, err: unknown): CommunicatorError {
  if (CommunicatorError.is(err)) return err;
  return new CommunicatorError("KILN_SSH_TRANSFER_FAILED", `${what}: ${describeError(err)}`, {
    cause: err,
  });
}

export async function upload(
  link: SSHLink,
  src: string | Buffer,
  remotePath: string,
  opts: UploadOptions = {},
): Promise<void> {
  const what = `upload of ${typeof src === "string" ? src : "data"} to ${remotePath} on ${link.target} failed`;
  try {
    const sftp = await sftpOrFallback(link);
    if (!sftp) {
      const sent = await putViaShell(link, src, remotePath, opts.mode, opts.onProgress);
      if (opts.verify !== false) await verifyViaShell(link, sent);
      return;
    }
    const sent = await sftpPut(sftp, src, remotePath, opts.mode, opts.onProgress);
    if (opts.verify !== false) await verifyRemote(link, sftp, [sent]);
  } catch (err) {
    throw transferError(what, err);
  }
}

export async function uploadDir(link: SSHLink, localDir: string, remoteDir: string): Promise<void> {
  try {
    const sftp = await requireSftp(link, "uploading a directory");
    const root = await stat(localDir);
    if (!root.isDirectory())
      throw new CommunicatorError("KILN_SSH_TRANSFER_FAILED", `${localDir} is not a directory`);
    const created = await mkdirRemote(link, sftp, remoteDir);
    const files: { remote: string; bytes: number; sha256: string }[] = [];
    const dirModes: [string, number][] = [];
    if (created) dirModes.push([remoteDir, root.mode & 0o7777]);
    const inner = await uploadTree(localDir, remoteDir, {
      async mkdir(r) {
        await mkdirRemote(link, sftp, r);
        return r;
      },
      async file(l, r) {
        files.push(await sftpPut(sftp, l, r, undefined));
      },
      async link(l, r) {
        const target = await readlink(l);
        await sftpUnlink(sftp, r).catch(() => {});
        await sftpSymlink(sftp, target, r);
      },
      other: (l) => link.log(`skipping ${l}: not a file, directory or symlink`),
    });
    dirModes.push(...inner);
    for (const [dir, mode] of dirModes) await sftpChmod(sftp, dir, mode);
    await verifyRemote(link, sftp, files);
  } catch (err) {
    throw transferError(`upload of directory ${localDir} to ${remoteDir} on ${link.target} failed`, err);
  }
}

export async function download(
  link: SSHLink,
  remotePath: string,
  localPath: string,
  opts: TransferOptions = {},
): Promise<void> {
  try {
    const sftp = await sftpOrFallback(link);
    if (!sftp) {
      const got = await getViaShell(link, remotePath, localPath, opts.onProgress);
      if (opts.verify !== false) await verifyDownloaded(link, [{ ...got, local: localPath }]);
      return;
    }
    const got = await sftpGet(link, sftp, remotePath, localPath, opts.onProgress);
    if (opts.verify !== false) await verifyDownloaded(link, [{ ...got, local: localPath }]);
  } catch (err) {
    throw transferError(`download of ${remotePath} from ${link.target} to ${localPath} failed`, err);
  }
}

export async function downloadDir(link: SSHLink, remoteDir: string, localDir: string): Promise<void> {
  try {
    const sftp = await requireSftp(link, "downloading a directory");
    const root = await sftpStat(sftp, remoteDir);
    if (!root.isDirectory())
      throw new CommunicatorError(
        "KILN_SSH_TRANSFER_FAILED",
        `${remoteDir} on ${link.target} is not a directory`,
      );
    let created = false;
    try {
      await lstat(localDir);
    } catch {
      await mkdir(localDir, { recursive: true });
      created = true;
    }
    const files: { remote: string; sha256: string; local: string }[] = [];
    const dirModes: [string, number][] = [];
    if (created) dirModes.push([localDir, root.mode & 0o7777]);
    const walk = async (remote: string, local: string): Promise<void> => {
      const entries = (await sftpReaddir(sftp, remote)).filter(
        (e) => e.filename !== "." && e.filename !== "..",
      );
      entries.sort((a, b) => (a.filename < b.filename ? -1 : a.filename > b.filename ? 1 : 0));
      for (const e of entries) {
        const r = posix.join(remote, e.filename);
        const l = join(local, e.filename);
        const type = e.attrs.mode & S_IFMT;
        if (type === S_IFDIR) {
          await mkdir(l, { recursive: true });
          await walk(r, l);
          dirModes.push([l, e.attrs.mode & 0o7777]);
        } else if (type === S_IFREG) {
          const got = await sftpGet(link, sftp, r, l);
          files.push({ ...got, local: l });
        } else if (type === S_IFLNK) {
          const target = await sftpReadlink(sftp, r);
          await rm(l, { force: true });
          await symlink(target, l);
        } else {
          link.log(`skipping ${r}: not a file, directory or symlink`);
        }
      }
    };
    await walk(remoteDir, localDir);
    for (const [dir, mode] of dirModes) await chmod(dir, mode);
    await verifyDownloaded(link, files);
  } catch (err) {
    throw transferError(`download of directory ${remoteDir} from ${link.target} to ${localDir} failed`, err);
  }
}

async function sftpPut(
  sftp: SFTPWrapper,
  src: string | Buffer,
  remotePath: string,
  mode: number | undefined,
  onProgress?: (done: number, total: number) => void,
): Promise<{ remote: string; bytes: number; sha256: string }> {
  const { total, chunks, fileMode } = await openSource(src, mode, 1024 * 1024);
  const handle = await sftpOpen(sftp, remotePath, "w", fileMode);
  let result: { bytes: number; sha256: string };
  try {
    onProgress?.(0, total);
    result = await writeChunks(
      sftp,
      handle,
      chunks,
      onProgress ? (d) => onProgress(d, Math.max(total, d)) : undefined,
    );
    await sftpFchmod(sftp, handle, fileMode);
  } finally {
    await sftpClose(sftp, handle).catch(() => {});
  }
  return { remote: remotePath, ...result };
}

async function sftpGet(
  link: SSHLink,
  sftp: SFTPWrapper,
  remotePath: string,
  localPath: string,
  onProgress?: (done: number, total: number) => void,
): Promise<{ remote: string; bytes: number; sha256: string; mode: number }> {
  const handle = await sftpOpen(sftp, remotePath, "r");
  const tmp = `${localPath}.kiln-partial-${randomBytes(4).toString("hex")}`;
  let ok = false;
  try {
    const st = await sftpFstat(sftp, handle);
    if ((st.mode & S_IFMT) !== S_IFREG)
      throw new CommunicatorError(
        "KILN_SSH_TRANSFER_FAILED",
        `${remotePath} on ${link.target} is not a regular file`,
      );
    const mode = st.mode & 0o7777;
    const out = createWriteStream(tmp, { flags: "wx", mode: 0o600 });
    const opened = new Promise<void>((resolve, reject) => {
      out.once("open", () => resolve());
      out.once("error", reject);
    });
    await opened;
    let result: { bytes: number; sha256: string };
    try {
      onProgress?.(0, st.size);
      result = await readChunks(
        sftp,
        handle,
        st.size,
        (c) => writeLocal(out, c),
        onProgress ? (d) => onProgress(d, st.size) : undefined,
      );
    } finally {
      await new Promise<void>((resolve, reject) => {
        out.once("error", reject);
        out.end(() => resolve());
      });
    }
    if (result.bytes !== st.size) {
      throw new CommunicatorError(
        "KILN_SSH_INTEGRITY",
        `${remotePath} on ${link.target} changed size while downloading (${result.bytes} of ${st.size} bytes)`,
      );
    }
    await chmod(tmp, mode);
    await rename(tmp, localPath);
    ok = true;
    return { remote: remotePath, mode, ...result };
  } finally {
    await sftpClose(sftp, handle).catch(() => {});
    if (!ok) await rm(tmp, { force: true }).catch(() => {});
  }
}

async function mkdirRemote(link: SSHLink, sftp: SFTPWrapper, dir: string): Promise<boolean> {
  try {
    const st = await sftpStat(sftp, dir);
    if (!st.isDirectory())
      throw new CommunicatorError(
        "KILN_SSH_TRANSFER_FAILED",
        `${dir} on ${link.target} exists and is not a directory`,
      );
    return false;
  } catch (err) {
    if (CommunicatorError.is(err)) throw err;
    if ((err as { code?: number }).code !== 2) throw err; // not "no such file"
  }
  const parent = posix.dirname(dir);
  if (parent !== dir && parent !== ".") await mkdirRemote(link, sftp, parent);
  await sftpMkdir(sftp, dir);
  return true;
}
