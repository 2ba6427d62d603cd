/**
 * A minimal, streaming tar writer (POSIX ustar, with pax extended headers for long names and
 * for files of 8 GiB and more — disk images often are).
 *
 * Written by hand because no well-kept tar library is installed in the workspace and the
 * format is small and fully specified (POSIX.1-2001 pax / IEEE Std 1003.1 "ustar"). Only what
 * the compress post-processor needs: regular files, directories (recursively) and symbolic
 * links, read as they are on disk.
 */
import { createReadStream } from "node:fs";
import { lstat, readdir, readlink } from "node:fs/promises";
import { join } from "node:path";

const BLOCK = 512;
const MAX_OCTAL_11 = 0o77777777777; // largest size/mtime an 11-digit octal field holds (8 GiB - 1)
const MAX_OCTAL_7 = 0o7777777;

export interface TarInput {
  /** Path on disk. */
  path: string;
  /** Name in the archive (for a directory, its contents go under `name/`). */
  name: string;
}

export interface TarOptions {
  signal?: AbortSignal;
  /** Called with the number of file bytes read, for progress. */
  onData?: (bytes: number) => void;
  /** Paths on disk not to include (e.g. the archive being written, when it is inside an input folder). */
  exclude?: Set<string>;
}

interface Header {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  type: "0" | "2" | "5" | "x";
  linkname?: string;
}

function writeString(buf: Buffer, offset: number, length: number, value: string): void {
  buf.write(value, offset, Math.min(length, Buffer.byteLength(value)), "utf8");
}

function writeOctal(buf: Buffer, offset: number, length: number, value: number): void {
  // length - 1 octal digits, then NUL
  writeString(buf, offset, length, `${value.toString(8).padStart(length - 1, "0")}\0`);
}

/** GNU base-256 form for numbers too large for octal (readers that do not know pax use it). */
function writeBase256(buf: Buffer, offset: number, length: number, value: number): void {
  let v = BigInt(value);
  for (let i = offset + length - 1; i > offset; i--) {
    buf[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  buf[offset] = 0x80;
}

/** Split a name into ustar's prefix (≤155 bytes) and name (≤100 bytes) at a slash, if possible. */
function splitName(name: string): { prefix: string; name: string } | undefined {
  if (Buffer.byteLength(name) <= 100) return { prefix: "", name };
  for (let i = name.length - 1; i > 0; i--) {
    if (name[i] !== "/") continue;
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(rest) <= 100 && rest.length > 0)
      return { prefix, name: rest };
  }
  return undefined;
}

function headerBlock(h: Header): Buffer {
  const buf = Buffer.alloc(BLOCK);
  const split = splitName(h.name) ?? { prefix: "", name: h.name.slice(0, 100) };
  writeString(buf, 0, 100, split.name);
  writeOctal(buf, 100, 8, h.mode & 0o7777);
  writeOctal(buf, 108, 8, h.uid <= MAX_OCTAL_7 ? h.uid : 0);
  writeOctal(buf, 116, 8, h.gid <= MAX_OCTAL_7 ? h.gid : 0);
  if (h.size <= MAX_OCTAL_11) writeOctal(buf, 124, 12, h.size);
  else writeBase256(buf, 124, 12, h.size);
  writeOctal(buf, 136, 12, Math.min(Math.max(h.mtime, 0), MAX_OCTAL_11));
  buf.fill(0x20, 148, 156); // checksum field counts as spaces while summing
  buf.write(h.type, 156, 1, "latin1");
  if (h.linkname) writeString(buf, 157, 100, h.linkname);
  buf.write("ustar\0", 257, 6, "latin1");
  buf.write("00", 263, 2, "latin1");
  writeString(buf, 345, 155, split.prefix);
  let sum = 0;
  for (const b of buf) sum += b;
  writeString(buf, 148, 8, `${sum.toString(8).padStart(6, "0")}\0 `);
  return buf;
}

/** One pax record: "<length> <key>=<value>\n", where length counts the whole record. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bodyLen = Buffer.byteLength(body);
  let len = bodyLen + 1;
  while (String(len).length + bodyLen !== len) len = String(len).length + bodyLen;
  return `${len}${body}`;
}

function padding(size: number): Buffer {
  const rest = size % BLOCK;
  return Buffer.alloc(rest === 0 ? 0 : BLOCK - rest);
}

/** The header blocks for an entry: a pax header first when ustar cannot hold the name or size. */
export function entryHeader(h: Header): Buffer[] {
  const records: string[] = [];
  if (!splitName(h.name)) records.push(paxRecord("path", h.name));
  if (h.linkname && Buffer.byteLength(h.linkname) > 100) records.push(paxRecord("linkpath", h.linkname));
  if (h.size > MAX_OCTAL_11) records.push(paxRecord("size", String(h.size)));
  const out: Buffer[] = [];
  if (records.length) {
    const data = Buffer.from(records.join(""), "utf8");
    const base = h.name.replace(/\/$/, "").split("/").pop() ?? "entry";
    out.push(
      headerBlock({
        name: `PaxHeaders/${base}`.slice(0, 100),
        mode: 0o644,
        uid: 0,
        gid: 0,
        size: data.length,
        mtime: h.mtime,
        type: "x",
      }),
    );
    out.push(data, padding(data.length));
  }
  out.push(headerBlock(h));
  return out;
}

/** The end of an archive: two zero blocks. */
export function endOfArchive(): Buffer {
  return Buffer.alloc(2 * BLOCK);
}

/** Total bytes of regular-file content under the inputs (for progress). */
export async function contentSize(inputs: TarInput[]): Promise<number> {
  let total = 0;
  const walk = async (p: string): Promise<void> => {
    const s = await lstat(p);
    if (s.isFile()) total += s.size;
    else if (s.isDirectory()) for (const e of await readdir(p)) await walk(join(p, e));
  };
  for (const i of inputs) await walk(i.path);
  return total;
}

async function* entry(path: string, name: string, opts: TarOptions): AsyncGenerator<Buffer> {
  if (opts.exclude?.has(path)) return;
  const s = await lstat(path);
  const common = { mode: s.mode, uid: s.uid, gid: s.gid, mtime: Math.floor(s.mtimeMs / 1000) };
  if (s.isDirectory()) {
    yield* entryHeader({ ...common, name: `${name}/`, size: 0, type: "5" });
    const children = (await readdir(path)).sort();
    for (const c of children) yield* entry(join(path, c), `${name}/${c}`, opts);
  } else if (s.isSymbolicLink()) {
    yield* entryHeader({ ...common, name, size: 0, type: "2", linkname: await readlink(path) });
  } else if (s.isFile()) {
    yield* entryHeader({ ...common, name, size: s.size, type: "0" });
    let written = 0;
    const stream = createReadStream(path, {
      highWaterMark: 1 << 20,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      const room = s.size - written;
      const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
      written += part.length;
      opts.onData?.(part.length);
      if (part.length) yield part;
      if (written >= s.size) {
        stream.destroy();
        break;
      }
    }
    if (written < s.size)
      throw new Error(`${path} shrank from ${s.size} to ${written} bytes while it was being archived`);
    yield padding(s.size);
  } else {
    throw new Error(`${path} is not a regular file, folder or symbolic link`);
  }
}

/** The bytes of a tar archive of `inputs`, produced as they are read. */
export async function* tarStream(inputs: TarInput[], opts: TarOptions = {}): AsyncGenerator<Buffer> {
  for (const i of inputs) yield* entry(i.path, i.name, opts);
  yield endOfArchive();
}
