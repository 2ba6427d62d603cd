/**
 * The build's HTTP server: serves `http_directory` and `http_content` to the guest (preseed,
 * kickstart, autoinstall user-data …) on the first free port of a range, like Packer.
 */
import { createReadStream } from "node:fs";
import { open, readdir, realpath, stat } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { networkInterfaces } from "node:os";
import { extname, isAbsolute, relative, resolve, sep } from "node:path";
import { KilnError } from "@kiln/core";

export type HttpServerErrorCode = "KILN_HTTP_NO_PORT" | "KILN_HTTP_LISTEN" | "KILN_HTTP_CONFIG";

export class HttpServerError extends KilnError {
  declare readonly code: HttpServerErrorCode;
  constructor(code: HttpServerErrorCode, message: string, options: { cause?: unknown; hint?: string } = {}) {
    super(code, message, options);
    this.name = "HttpServerError";
  }
}

/** One served request, for the build log (`GET /user-data 200`). */
export interface HttpRequestLog {
  method: string;
  /** The request path as sent (with query). */
  path: string;
  status: number;
  /** Body bytes sent (0 for HEAD). */
  bytes: number;
  durationMs: number;
  remoteAddress: string | undefined;
  /** Where the answer came from. */
  source: "content" | "directory" | "none";
}

export interface HttpServerOptions {
  /** Packer's `http_directory`: files served from here. */
  directory?: string;
  /** Packer's `http_content`: path → content; wins over files of the same path. */
  content?: Readonly<Record<string, string | Uint8Array>>;
  /** Packer's `http_bind_address` (default 0.0.0.0). */
  bindAddress?: string;
  /** Packer's `http_port_min` / `http_port_max` (default 8000–9000). */
  portMin?: number;
  portMax?: number;
  /** Called after every request. */
  onRequest?: (entry: HttpRequestLog) => void;
}

export interface HttpServerHandle {
  /** The address to reach the server: the bind address, or this host's first external IPv4
   * when bound to all interfaces. Builders substitute what the guest sees (10.0.2.2 for QEMU
   * user networking). */
  ip: string;
  port: number;
  /** `http://ip:port` (no trailing slash). */
  url: string;
  bindAddress: string;
  server: Server;
  /** Replace the `content` map (e.g. once it is rendered with this server's own port). */
  setContent(content: Readonly<Record<string, string | Uint8Array>>): void;
  /** Stop listening and drop open (keep-alive) connections; the port is free on return. */
  close(): Promise<void>;
}

/** Format a request log entry as the build shows it: `GET /user-data 200`. */
export function formatHttpRequestLog(e: HttpRequestLog): string {
  return `${e.method} ${e.path} ${e.status}`;
}

const MIME: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".htm": "text/html; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  ".cfg": "text/plain; charset=utf-8",
  ".conf": "text/plain; charset=utf-8",
  ".ks": "text/plain; charset=utf-8",
  ".seed": "text/plain; charset=utf-8",
  ".preseed": "text/plain; charset=utf-8",
  ".sh": "text/x-shellscript; charset=utf-8",
  ".ps1": "text/plain; charset=utf-8",
  ".xml": "text/xml; charset=utf-8",
  ".json": "application/json",
  ".yaml": "application/yaml",
  ".yml": "application/yaml",
  ".ipxe": "text/plain; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".gif": "image/gif",
  ".svg": "image/svg+xml",
  ".iso": "application/x-iso9660-image",
  ".img": "application/octet-stream",
  ".gz": "application/gzip",
  ".xz": "application/x-xz",
  ".zst": "application/zstd",
  ".tar": "application/x-tar",
  ".zip": "application/zip",
  ".pem": "application/x-pem-file",
  ".pub": "text/plain; charset=utf-8",
};

function isText(sample: Uint8Array): boolean {
  for (const b of sample) if (b === 0) return false;
  return true;
}

/** Content type by extension, else by a look at the first bytes (text or binary). */
function contentType(path: string, sample: Uint8Array): string {
  const byExt = MIME[extname(path).toLowerCase()];
  if (byExt) return byExt;
  return isText(sample) ? "text/plain; charset=utf-8" : "application/octet-stream";
}

function normalizeContentKey(key: string): string {
  return key.startsWith("/") ? key : `/${key}`;
}

function inside(root: string, p: string): boolean {
  const rel = relative(root, p);
  return rel === "" || (!rel.startsWith(`..${sep}`) && rel !== ".." && !isAbsolute(rel));
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Parse a single `bytes=` range against `size`; undefined = whole body, null = unsatisfiable. */
function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | undefined | null {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return undefined; // multi-range or malformed: send it all
  let start: number;
  let end: number;
  if (m[1] === "") {
    const suffix = Number(m[2]);
    if (suffix === 0) return null;
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || start > end) return null;
  return { start, end };
}

function firstExternalIPv4(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  }
  return "127.0.0.1";
}

/**
 * Start the HTTP server on the first free port in `portMin`…`portMax` of `bindAddress`.
 * Throws {@link HttpServerError} `KILN_HTTP_NO_PORT` when every port is taken.
 */
export async function startHttpServer(options: HttpServerOptions = {}): Promise<HttpServerHandle> {
  const bindAddress = options.bindAddress ?? "0.0.0.0";
  const portMin = options.portMin ?? 8000;
  const portMax = options.portMax ?? 9000;
  if (
    !Number.isInteger(portMin) ||
    !Number.isInteger(portMax) ||
    portMin < 0 ||
    portMax > 65535 ||
    portMin > portMax
  ) {
    throw new HttpServerError("KILN_HTTP_CONFIG", `invalid HTTP port range ${portMin}–${portMax}`, {
      hint: "Set http_port_min ≤ http_port_max, both between 0 and 65535.",
    });
  }
  let root: string | undefined;
  if (options.directory !== undefined) {
    const dir = resolve(options.directory);
    const st = await stat(dir).catch(() => undefined);
    if (!st?.isDirectory()) {
      throw new HttpServerError(
        "KILN_HTTP_CONFIG",
        `http_directory ${options.directory} is not a directory`,
        {
          hint: "Create the folder, or fix the path (it is relative to the build file's folder).",
        },
      );
    }
    root = await realpath(dir);
  }
  const content = new Map<string, Buffer>();
  const setContent = (entries: Readonly<Record<string, string | Uint8Array>>) => {
    content.clear();
    for (const [k, v] of Object.entries(entries)) {
      content.set(normalizeContentKey(k), typeof v === "string" ? Buffer.from(v, "utf8") : Buffer.from(v));
    }
  };
  setContent(options.content ?? {});

  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    const started = Date.now();
    let source: HttpRequestLog["source"] = "none";
    let bytes = 0;
    res.on("finish", () => {
      options.onRequest?.({
        method: req.method ?? "",
        path: req.url ?? "",
        status: res.statusCode,
        bytes,
        durationMs: Date.now() - started,
        remoteAddress: req.socket.remoteAddress,
        source,
      });
    });
    handle(req, res, root, content, (s, n) => {
      source = s;
      bytes = n;
    }).catch(() => {
      if (!res.headersSent) send(res, req, 500, "internal error\n");
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5000;
  server.on("connection", (s) => {
    sockets.add(s);
    s.once("close", () => sockets.delete(s));
  });

  let port: number | undefined;
  let lastErr: unknown;
  for (let p = portMin; p <= portMax; p++) {
    try {
      port = await listen(server, p, bindAddress);
      break;
    } catch (err) {
      lastErr = err;
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EADDRINUSE" || code === "EACCES") continue;
      throw new HttpServerError(
        "KILN_HTTP_LISTEN",
        `cannot listen on ${bindAddress}:${p}: ${(err as Error).message}`,
        {
          cause: err,
          hint: "Check http_bind_address: it must be an address of this machine (or 0.0.0.0).",
        },
      );
    }
  }
  if (port === undefined) {
    throw new HttpServerError(
      "KILN_HTTP_NO_PORT",
      `no free port for the HTTP server on ${bindAddress} between ${portMin} and ${portMax}`,
      { cause: lastErr, hint: "Widen http_port_min/http_port_max, or stop what holds those ports." },
    );
  }

  const all = bindAddress === "0.0.0.0" || bindAddress === "::" || bindAddress === "";
  const ip = all ? firstExternalIPv4() : bindAddress;
  const host = ip.includes(":") ? `[${ip}]` : ip;
  let closing: Promise<void> | undefined;
  return {
    ip,
    port,
    url: `http://${host}:${port}`,
    bindAddress,
    server,
    setContent,
    close() {
      closing ??= new Promise<void>((resolveClose) => {
        server.close(() => resolveClose());
        for (const s of sockets) s.destroy();
        server.closeAllConnections?.();
      });
      return closing;
    },
  };
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolveListen, reject) => {
    const onError = (err: Error) => {
      server.off("listening", onListening);
      reject(err);
    };
    const onListening = () => {
      server.off("error", onError);
      resolveListen((server.address() as AddressInfo).port);
    };
    server.once("error", onError);
    server.once("listening", onListening);
    server.listen({ port, host, exclusive: true });
  });
}

function send(
  res: ServerResponse,
  req: IncomingMessage,
  status: number,
  body: string,
  headers: Record<string, string> = {},
) {
  const buf = Buffer.from(body, "utf8");
  res.writeHead(status, {
    "Content-Type": "text/plain; charset=utf-8",
    "Content-Length": String(buf.length),
    ...headers,
  });
  res.end(req.method === "HEAD" ? undefined : buf);
  return req.method === "HEAD" ? 0 : buf.length;
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  root: string | undefined,
  content: Map<string, Buffer>,
  note: (source: HttpRequestLog["source"], bytes: number) => void,
): Promise<void> {
  if (req.method !== "GET" && req.method !== "HEAD") {
    note("none", send(res, req, 405, "method not allowed\n", { Allow: "GET, HEAD" }));
    return;
  }
  let pathname: string;
  try {
    pathname = decodeURIComponent(new URL(req.url ?? "/", "http://kiln.invalid").pathname);
  } catch {
    note("none", send(res, req, 400, "bad request\n"));
    return;
  }
  if (pathname.includes("\0")) {
    note("none", send(res, req, 400, "bad request\n"));
    return;
  }

  const inline = content.get(pathname);
  if (inline !== undefined) {
    note("content", sendBuffer(req, res, inline, contentType(pathname, inline.subarray(0, 512))));
    return;
  }
  if (root === undefined) {
    note("none", send(res, req, 404, "not found\n"));
    return;
  }

  const target = resolve(root, `.${pathname}`);
  if (!inside(root, target)) {
    note("directory", send(res, req, 403, "forbidden\n"));
    return;
  }
  let real: string;
  try {
    real = await realpath(target);
  } catch {
    note("directory", send(res, req, 404, "not found\n"));
    return;
  }
  if (!inside(root, real)) {
    // a symbolic link out of http_directory
    note("directory", send(res, req, 403, "forbidden\n"));
    return;
  }
  let st = await stat(real);
  let file = real;
  if (st.isDirectory()) {
    if (!pathname.endsWith("/")) {
      const location = `${encodeURI(pathname)}/`;
      note("directory", send(res, req, 301, `moved to ${location}\n`, { Location: location }));
      return;
    }
    const index = resolve(real, "index.html");
    const ist = await stat(index).catch(() => undefined);
    if (ist?.isFile()) {
      file = index;
      st = ist;
    } else {
      const names = (await readdir(real, { withFileTypes: true }))
        .map((d) => (d.isDirectory() ? `${d.name}/` : d.name))
        .sort();
      const html = `<!doctype html>\n<pre>\n${names
        .map(
          (n) =>
            `<a href="${escapeHtml(encodeURIComponent(n.replace(/\/$/, "")) + (n.endsWith("/") ? "/" : ""))}">${escapeHtml(n)}</a>`,
        )
        .join("\n")}\n</pre>\n`;
      note("directory", send(res, req, 200, html, { "Content-Type": "text/html; charset=utf-8" }));
      return;
    }
  }
  if (!st.isFile()) {
    note("directory", send(res, req, 404, "not found\n"));
    return;
  }

  const sample = Buffer.alloc(Math.min(512, st.size));
  if (sample.length > 0) {
    const fh = await open(file, "r");
    try {
      await fh.read(sample, 0, sample.length, 0);
    } finally {
      await fh.close();
    }
  }
  const type = contentType(file, sample);
  const range = parseRange(req.headers.range, st.size);
  const common = {
    "Content-Type": type,
    "Accept-Ranges": "bytes",
    "Last-Modified": st.mtime.toUTCString(),
  };
  if (range === null) {
    note(
      "directory",
      send(res, req, 416, "range not satisfiable\n", { "Content-Range": `bytes */${st.size}` }),
    );
    return;
  }
  const start = range?.start ?? 0;
  const end = range ? range.end : st.size - 1;
  const length = st.size === 0 ? 0 : end - start + 1;
  res.writeHead(range ? 206 : 200, {
    ...common,
    "Content-Length": String(length),
    ...(range ? { "Content-Range": `bytes ${start}-${end}/${st.size}` } : {}),
  });
  if (req.method === "HEAD" || length === 0) {
    res.end();
    note("directory", 0);
    return;
  }
  note("directory", length);
  await new Promise<void>((done, fail) => {
    const stream = createReadStream(file, { start, end });
    stream.on("error", (err) => {
      res.destroy(err);
      fail(err);
    });
    res.on("close", () => {
      stream.destroy();
      done();
    });
    stream.pipe(res);
  });
}

function sendBuffer(req: IncomingMessage, res: ServerResponse, body: Buffer, type: string): number {
  const range = parseRange(req.headers.range, body.length);
  if (range === null) {
    return send(res, req, 416, "range not satisfiable\n", { "Content-Range": `bytes */${body.length}` });
  }
  const part = range ? body.subarray(range.start, range.end + 1) : body;
  res.writeHead(range ? 206 : 200, {
    "Content-Type": type,
    "Content-Length": String(part.length),
    "Accept-Ranges": "bytes",
    ...(range ? { "Content-Range": `bytes ${range.start}-${range.end}/${body.length}` } : {}),
  });
  res.end(req.method === "HEAD" ? undefined : part);
  return req.method === "HEAD" ? 0 : part.length;
}
