/**
 * The PVE double's HTTP wire: answers as pve-http-server formats them, and a request's
 * parameters from a form or JSON body or a streamed multipart upload.
 */
import fs from "node:fs";
import http from "node:http";
import { ApiError, STATUS_TEXT } from "./api-error.js";
import { readMultipart } from "./multipart.js";
import type { ParamValue } from "./spec.js";

/** A file uploaded with multipart/form-data, streamed to a temp file. */
export interface UploadInfo {
  tmpfile: string;
  filename: string;
  bytes: number;
}

export const send = (
  res: http.ServerResponse,
  status: number,
  reason: string | undefined,
  body: unknown,
  headers: Record<string, string> = {},
) => {
  const raw = body === undefined ? "" : JSON.stringify(body);
  res.writeHead(
    status,
    (reason ?? STATUS_TEXT[status] ?? http.STATUS_CODES[status] ?? "").split("\n")[0] ?? "",
    {
      "Content-Type": "application/json;charset=UTF-8",
      "Content-Length": Buffer.byteLength(raw),
      Server: "pve-api-daemon/3.0",
      "Cache-Control": "max-age=0",
      Pragma: "no-cache",
      ...headers,
    },
  );
  res.end(raw);
};

const readBody = async (req: http.IncomingMessage): Promise<string> => {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > 512 * 1024) throw new ApiError(413, "Request Entity Too Large");
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
};

export const decodeForm = (s: string, into: Record<string, ParamValue>) => {
  for (const [k, v] of new URLSearchParams(s)) {
    const old = into[k];
    into[k] = old === undefined ? v : `${old}\0${v}`;
  }
};

/** Reads a form or JSON body into `params`. */
export const readBodyParams = async (
  req: http.IncomingMessage,
  ctype: string,
  params: Record<string, ParamValue>,
) => {
  const body = await readBody(req);
  if (body.trim()) {
    if (ctype.startsWith("application/json")) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(body);
      } catch {
        throw new ApiError(400, "malformed JSON in request body");
      }
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed))
        throw new ApiError(400, "JSON body must be an object");
      Object.assign(params, parsed);
    } else {
      decodeForm(body, params);
    }
  }
};

/** Streams a multipart body's file to `tmp` and its fields into `params`. */
export const readUpload = async (
  req: http.IncomingMessage,
  boundary: string,
  tmp: string,
  params: Record<string, ParamValue>,
): Promise<UploadInfo | undefined> => {
  const r = await readMultipart(req, boundary, () => {
    const ws = fs.createWriteStream(tmp);
    let failed: Error | undefined;
    ws.on("error", (e) => {
      failed = e;
      ws.emit("drain");
    });
    return {
      write: (chunk) =>
        new Promise<void>((resolve, reject) => {
          if (failed) reject(failed);
          else if (ws.write(chunk)) resolve();
          else ws.once("drain", () => (failed ? reject(failed) : resolve()));
        }),
      end: () =>
        new Promise<void>((resolve, reject) =>
          ws.end((err?: Error | null) => (err ? reject(err) : resolve())),
        ),
    };
  });
  Object.assign(params, r.fields);
  if (!r.file) return undefined;
  params.filename = r.file.filename;
  return { tmpfile: tmp, filename: r.file.filename, bytes: r.file.bytes };
};
