/**
 * A streaming multipart/form-data reader: small fields are collected, the file part is
 * written to a sink as it arrives (never held in memory), like pveproxy does for uploads.
 */
import type { Readable } from "node:stream";

export interface MultipartResult {
  fields: Record<string, string>;
  file?: { field: string; filename: string; bytes: number };
}

export interface FileSink {
  write(chunk: Buffer): Promise<void>;
  end(): Promise<void>;
}

const MAX_FIELD = 64 * 1024;

export function boundaryOf(contentType: string | undefined): string | undefined {
  const m = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType ?? "");
  return m ? (m[1] ?? m[2]) : undefined;
}

export async function readMultipart(
  stream: Readable,
  boundary: string,
  openFile: (field: string, filename: string) => FileSink,
): Promise<MultipartResult> {
  const delim = Buffer.from(`\r\n--${boundary}`);
  const result: MultipartResult = { fields: {} };
  // Pretend a CRLF precedes the body so the first boundary matches `delim` too.
  let buf: Buffer = Buffer.from("\r\n");
  type State = "preamble" | "headers" | "body" | "after" | "end";
  let state = "preamble" as State;
  let part: { name: string; filename?: string; sink?: FileSink; chunks: Buffer[]; size: number } | undefined;

  const flushBody = async (data: Buffer) => {
    if (!part || !data.length) return;
    part.size += data.length;
    if (part.sink) await part.sink.write(data);
    else {
      if (part.size > MAX_FIELD) throw new Error("form data too large");
      part.chunks.push(data);
    }
  };
  const finishPart = async () => {
    if (!part) return;
    if (part.sink) {
      await part.sink.end();
      result.file = { field: part.name, filename: part.filename ?? "", bytes: part.size };
    } else {
      result.fields[part.name] = Buffer.concat(part.chunks).toString("utf8");
    }
    part = undefined;
  };

  const step = async (): Promise<boolean> => {
    switch (state) {
      case "preamble": {
        const i = buf.indexOf(delim);
        if (i < 0) {
          if (buf.length > delim.length) buf = buf.subarray(buf.length - delim.length);
          return false;
        }
        buf = buf.subarray(i + delim.length);
        state = "after";
        return true;
      }
      case "after": {
        if (buf.length < 2) return false;
        const two = buf.subarray(0, 2).toString("latin1");
        if (two === "--") {
          state = "end";
          return false;
        }
        if (two !== "\r\n") throw new Error("malformed multipart body");
        buf = buf.subarray(2);
        state = "headers";
        return true;
      }
      case "headers": {
        const i = buf.indexOf("\r\n\r\n");
        if (i < 0) {
          if (buf.length > 16 * 1024) throw new Error("multipart headers too large");
          return false;
        }
        const head = buf.subarray(0, i).toString("utf8");
        buf = buf.subarray(i + 4);
        const disp = /^content-disposition:\s*form-data(.*)$/im.exec(head)?.[1] ?? "";
        const name = /;\s*name="([^"]*)"/i.exec(disp)?.[1];
        const filename = /;\s*filename="([^"]*)"/i.exec(disp)?.[1];
        if (!name) throw new Error("wrong content disposition in multipart");
        part = { name, chunks: [], size: 0 };
        if (filename !== undefined) {
          part.filename = filename;
          part.sink = openFile(name, filename);
        }
        state = "body";
        return true;
      }
      case "body": {
        const i = buf.indexOf(delim);
        if (i < 0) {
          const keep = delim.length;
          if (buf.length > keep) {
            await flushBody(buf.subarray(0, buf.length - keep));
            buf = buf.subarray(buf.length - keep);
          }
          return false;
        }
        await flushBody(buf.subarray(0, i));
        buf = buf.subarray(i + delim.length);
        await finishPart();
        state = "after";
        return true;
      }
      default:
        return false;
    }
  };

  for await (const chunk of stream) {
    buf = buf.length ? Buffer.concat([buf, chunk as Buffer]) : (chunk as Buffer);
    while (state !== "end" && (await step())) {
      /* keep parsing */
    }
  }
  if (state !== "end") {
    if (part?.sink) await part.sink.end();
    throw new Error("unexpected end of multipart body");
  }
  return result;
}
