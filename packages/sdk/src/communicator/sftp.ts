import { createHash } from "node:crypto";
import type { WriteStream } from "node:fs";
import type { SFTPWrapper, Stats } from "ssh2";

/** Size of one SFTP read/write request. */
export const CHUNK = 64 * 1024;
/** Requests kept in flight (bounded memory: CHUNK × MAX_INFLIGHT). */
export const MAX_INFLIGHT = 64;

export function sftpCall<T>(fn: (cb: (err: Error | null | undefined, value: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    fn((err, value) => (err ? reject(err) : resolve(value)));
  });
}

export const sftpOpen = (sftp: SFTPWrapper, path: string, flags: "r" | "w", mode?: number): Promise<Buffer> =>
  sftpCall<Buffer>((cb) =>
    mode === undefined ? sftp.open(path, flags, cb) : sftp.open(path, flags, { mode }, cb),
  );
export const sftpClose = (sftp: SFTPWrapper, handle: Buffer): Promise<void> =>
  sftpCall<void>((cb) => sftp.close(handle, (err) => cb(err, undefined)));
export const sftpFstat = (sftp: SFTPWrapper, handle: Buffer): Promise<Stats> =>
  sftpCall<Stats>((cb) => sftp.fstat(handle, cb));
export const sftpStat = (sftp: SFTPWrapper, path: string): Promise<Stats> =>
  sftpCall<Stats>((cb) => sftp.stat(path, cb));
export const sftpLstat = (sftp: SFTPWrapper, path: string): Promise<Stats> =>
  sftpCall<Stats>((cb) => sftp.lstat(path, cb));
export const sftpFchmod = (sftp: SFTPWrapper, handle: Buffer, mode: number): Promise<void> =>
  sftpCall<void>((cb) => sftp.fchmod(handle, mode, (err) => cb(err, undefined)));
export const sftpChmod = (sftp: SFTPWrapper, path: string, mode: number): Promise<void> =>
  sftpCall<void>((cb) => sftp.chmod(path, mode, (err) => cb(err, undefined)));
export const sftpMkdir = (sftp: SFTPWrapper, path: string): Promise<void> =>
  sftpCall<void>((cb) => sftp.mkdir(path, (err) => cb(err, undefined)));
export const sftpUnlink = (sftp: SFTPWrapper, path: string): Promise<void> =>
  sftpCall<void>((cb) => sftp.unlink(path, (err) => cb(err, undefined)));
export const sftpReadlink = (sftp: SFTPWrapper, path: string): Promise<string> =>
  sftpCall<string>((cb) => sftp.readlink(path, cb));
export const sftpSymlink = (sftp: SFTPWrapper, target: string, linkPath: string): Promise<void> =>
  sftpCall<void>((cb) => sftp.symlink(target, linkPath, (err) => cb(err, undefined)));
export const sftpReaddir = (sftp: SFTPWrapper, path: string) =>
  sftpCall<{ filename: string; attrs: Stats }[]>((cb) => sftp.readdir(path, cb));

function writeAt(
  sftp: SFTPWrapper,
  handle: Buffer,
  buf: Buffer,
  off: number,
  len: number,
  pos: number,
): Promise<void> {
  return sftpCall<void>((cb) => sftp.write(handle, buf, off, len, pos, (err) => cb(err, undefined)));
}

function readAt(sftp: SFTPWrapper, handle: Buffer, len: number, pos: number): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const buf = Buffer.allocUnsafe(len);
    let got = 0;
    const next = (): void => {
      sftp.read(handle, buf, got, len - got, pos + got, (err, n) => {
        if (err) return reject(err);
        if (n === 0) return resolve(buf.subarray(0, got)); // end of file
        got += n;
        if (got >= len) resolve(buf);
        else next(); // short read: ask for the rest
      });
    };
    next();
  });
}

/**
 * Write `chunks` to an open remote handle with many requests in flight, hashing as it goes.
 * Returns the number of bytes written and their sha256 (hex).
 */
export async function writeChunks(
  sftp: SFTPWrapper,
  handle: Buffer,
  chunks: AsyncIterable<Buffer> | Iterable<Buffer>,
  onAck?: (done: number) => void,
): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash("sha256");
  const inflight = new Set<Promise<void>>();
  let failure: unknown;
  let failed = false;
  let offset = 0;
  let acked = 0;
  for await (const chunk of chunks) {
    hash.update(chunk);
    for (let off = 0; off < chunk.length; off += CHUNK) {
      while (inflight.size >= MAX_INFLIGHT) await Promise.race(inflight);
      if (failed) throw failure;
      const len = Math.min(CHUNK, chunk.length - off);
      const p: Promise<void> = writeAt(sftp, handle, chunk, off, len, offset).then(
        () => {
          acked += len;
          onAck?.(acked);
        },
        (err: unknown) => {
          if (!failed) {
            failed = true;
            failure = err;
          }
        },
      );
      inflight.add(p);
      void p.finally(() => inflight.delete(p));
      offset += len;
    }
  }
  await Promise.all(inflight);
  if (failed) throw failure;
  return { bytes: offset, sha256: hash.digest("hex") };
}

/**
 * Read `size` bytes of an open remote handle in order, with many requests in flight, handing each
 * piece to `sink` (awaited, so the sink can apply back-pressure). Returns bytes read and their sha256.
 */
export async function readChunks(
  sftp: SFTPWrapper,
  handle: Buffer,
  size: number,
  sink?: (chunk: Buffer) => Promise<void> | void,
  onProgress?: (done: number) => void,
): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash("sha256");
  const queue: Promise<Buffer>[] = [];
  let next = 0;
  let done = 0;
  const fill = (): void => {
    while (queue.length < MAX_INFLIGHT && next < size) {
      const len = Math.min(CHUNK, size - next);
      const p = readAt(sftp, handle, len, next);
      p.catch(() => {}); // handled when it reaches the head of the queue
      queue.push(p);
      next += len;
    }
  };
  fill();
  try {
    while (queue.length > 0) {
      const head = queue.shift();
      if (head === undefined) break;
      const buf = await head;
      if (buf.length > 0) {
        hash.update(buf);
        done += buf.length;
        if (sink) await sink(buf);
        onProgress?.(done);
      }
      if (buf.length < CHUNK && done < size) break; // the file shrank under us
      fill();
    }
  } finally {
    // let outstanding requests settle before the caller closes the handle
    await Promise.allSettled(queue);
  }
  return { bytes: done, sha256: hash.digest("hex") };
}

export function* bufferChunks(buf: Buffer, size = 1024 * 1024): Iterable<Buffer> {
  for (let off = 0; off < buf.length; off += size) yield buf.subarray(off, Math.min(off + size, buf.length));
}

/** Write to a local stream honouring back-pressure. */
export function writeLocal(out: WriteStream, chunk: Buffer): Promise<void> | void {
  if (out.write(chunk)) return;
  return new Promise<void>((resolve, reject) => {
    const onDrain = (): void => {
      out.off("error", onError);
      resolve();
    };
    const onError = (err: Error): void => {
      out.off("drain", onDrain);
      reject(err);
    };
    out.once("drain", onDrain);
    out.once("error", onError);
  });
}

/** POSIX single-quote a string for a remote shell. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
