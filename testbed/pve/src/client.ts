/**
 * A minimal PVE API client for the double's tests (node:https, trusts only the given CA).
 * Not the builder's client: it exposes the raw wire (status, reason, body) on purpose.
 */
import fs from "node:fs";
import type http from "node:http";
import https from "node:https";
import path from "node:path";

export interface RawResponse {
  status: number;
  reason: string;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** Parsed JSON body; {} if the body is empty or not JSON (e.g. PVE's 401 answers). */
  body: { data?: unknown; errors?: Record<string, string>; message?: string };
}

export interface Credentials {
  ticket?: string;
  csrf?: string;
  /** Full token id "user@realm!name" and secret. */
  token?: { id: string; secret: string };
}

export interface RequestOptions extends Credentials {
  /** Form-encoded parameters (query string for GET/DELETE, body otherwise). */
  params?: Record<string, string | number | boolean>;
  /** JSON body instead of a form. */
  json?: unknown;
  /** Raw body + content type. */
  raw?: { body: Buffer | string; contentType: string };
  /** Trust this CA; undefined = system trust store (which will refuse the double). */
  ca?: string;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

/** Cookie + CSRF header for a ticket, or the Authorization header for an API token. */
function authHeaders(o: Credentials): Record<string, string> {
  const h: Record<string, string> = {};
  if (o.ticket) h.Cookie = `PVEAuthCookie=${encodeURIComponent(o.ticket)}`;
  if (o.csrf) h.CSRFPreventionToken = o.csrf;
  if (o.token) h.Authorization = `PVEAPIToken=${o.token.id}=${o.token.secret}`;
  return h;
}

/** The whole answer as sent: status, reason phrase, headers, text and (if JSON) the parsed body. */
function readResponse(
  res: http.IncomingMessage,
  resolve: (r: RawResponse) => void,
  reject: (e: Error) => void,
): void {
  const chunks: Buffer[] = [];
  res.on("data", (c: Buffer) => chunks.push(c));
  res.on("end", () => {
    const text = Buffer.concat(chunks).toString("utf8");
    let parsed: RawResponse["body"] = {};
    try {
      if (text) parsed = JSON.parse(text);
    } catch {
      parsed = {};
    }
    resolve({
      status: res.statusCode ?? 0,
      reason: res.statusMessage ?? "",
      headers: res.headers,
      text,
      body: parsed,
    });
  });
  res.on("error", reject);
}

export function request(
  baseUrl: string,
  method: string,
  p: string,
  o: RequestOptions = {},
): Promise<RawResponse> {
  const url = new URL(baseUrl + p);
  const headers: Record<string, string> = { ...o.headers };
  Object.assign(headers, authHeaders(o));
  let body: Buffer | string | undefined;
  const form = o.params
    ? new URLSearchParams(
        Object.entries(o.params).map(([k, v]): [string, string] => [
          k,
          typeof v === "boolean" ? (v ? "1" : "0") : String(v),
        ]),
      ).toString()
    : "";
  if (o.raw) {
    body = o.raw.body;
    headers["Content-Type"] = o.raw.contentType;
  } else if (o.json !== undefined) {
    body = JSON.stringify(o.json);
    headers["Content-Type"] = "application/json";
  } else if (form && (method === "POST" || method === "PUT")) {
    body = form;
    headers["Content-Type"] = "application/x-www-form-urlencoded";
  } else if (form) {
    url.search = form;
  }
  if (body !== undefined) headers["Content-Length"] = String(Buffer.byteLength(body));
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, headers, ca: o.ca, timeout: o.timeoutMs ?? 15_000 }, (res) => {
      readResponse(res, resolve, reject);
    });
    req.on("timeout", () => req.destroy(new Error("request timed out")));
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** Streams a file as multipart/form-data (fields first, then the file as "filename"). */
export function uploadFile(
  baseUrl: string,
  p: string,
  file: string,
  fields: Record<string, string>,
  o: Credentials & { ca?: string; filename?: string } = {},
): Promise<RawResponse> {
  const boundary = `----kiln${Math.random().toString(16).slice(2)}`;
  const name = o.filename ?? path.basename(file);
  let pre = "";
  for (const [k, v] of Object.entries(fields))
    pre += `--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`;
  pre += `--${boundary}\r\nContent-Disposition: form-data; name="filename"; filename="${name}"\r\nContent-Type: application/octet-stream\r\n\r\n`;
  const post = `\r\n--${boundary}--\r\n`;
  const size = fs.statSync(file).size;
  const url = new URL(baseUrl + p);
  const headers: Record<string, string> = {
    "Content-Type": `multipart/form-data; boundary=${boundary}`,
    "Content-Length": String(Buffer.byteLength(pre) + size + Buffer.byteLength(post)),
  };
  Object.assign(headers, authHeaders(o));
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: "POST", headers, ca: o.ca }, (res) => {
      readResponse(res, resolve, reject);
    });
    req.on("error", reject);
    req.write(pre);
    const rs = fs.createReadStream(file);
    rs.on("error", reject);
    rs.on("end", () => req.end(post));
    rs.pipe(req, { end: false });
  });
}

/** Logs in and returns a small session helper bound to the ticket (or token). */
export async function login(
  baseUrl: string,
  ca: string,
  username: string,
  password: string,
): Promise<Credentials & { ca: string }> {
  const r = await request(baseUrl, "POST", "/access/ticket", { ca, params: { username, password } });
  if (r.status !== 200) throw new Error(`login failed: ${r.status} ${r.reason}`);
  const d = r.body.data as { ticket: string; CSRFPreventionToken: string };
  return { ca, ticket: d.ticket, csrf: d.CSRFPreventionToken };
}

/** Polls a task until it stops; returns its final status. */
export async function waitTask(
  baseUrl: string,
  node: string,
  upid: string,
  o: Credentials & { ca?: string },
  timeoutMs = 20_000,
): Promise<{ status: string; exitstatus?: string; [k: string]: unknown }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await request(baseUrl, "GET", `/nodes/${node}/tasks/${encodeURIComponent(upid)}/status`, o);
    if (r.status !== 200) throw new Error(`task status: ${r.status} ${r.reason}`);
    const d = r.body.data as { status: string; exitstatus?: string };
    if (d.status === "stopped") return d;
    if (Date.now() > deadline) throw new Error(`task ${upid} still running`);
    await new Promise((res) => setTimeout(res, 20));
  }
}
