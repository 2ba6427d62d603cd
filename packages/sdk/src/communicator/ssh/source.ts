/** What an upload reads: a local file or a buffer. */
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { CommunicatorError } from "../errors.js";
import { bufferChunks } from "../sftp.js";

/** The bytes to upload (a local file or a buffer), in chunks of `chunk` bytes, with size and mode. */
export async function openSource(
  src: string | Buffer,
  mode: number | undefined,
  chunk: number,
): Promise<{ total: number; chunks: AsyncIterable<Buffer> | Iterable<Buffer>; fileMode: number }> {
  if (typeof src !== "string") {
    return { total: src.length, fileMode: mode ?? 0o644, chunks: bufferChunks(src, chunk) };
  }
  const st = await stat(src);
  if (!st.isFile()) throw new CommunicatorError("KILN_SSH_TRANSFER_FAILED", `${src} is not a regular file`);
  return {
    total: st.size,
    fileMode: mode ?? st.mode & 0o7777,
    chunks: createReadStream(src, { highWaterMark: chunk }),
  };
}
