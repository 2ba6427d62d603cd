/**
 * A minimal HTTP(S) GET with redirects, an idle timeout, the environment's proxy settings and
 * errors that say what happened.
 */
import { STATUS_CODES } from "node:http";
import type { Readable } from "node:stream";
import type { Dispatcher } from "undici";

export const DEFAULT_IDLE_TIMEOUT_MS = 60_000;
const MAX_REDIRECTS = 10;
/** Undici's error codes for "nothing arrived in time". */
const TIMEOUTS = new Set(["UND_ERR_CONNECT_TIMEOUT", "UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT"]);

/** Why one URL failed: a one-line reason, shown after the URL in the error that lists them all. */
export class FetchFailure extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "FetchFailure";
    this.code = code;
  }
}

export interface GetOptions {
  signal?: AbortSignal;
  /** Fail when no byte arrives for this long (connecting, waiting for headers, or mid-body). */
  idleTimeoutMs?: number;
  headers?: Record<string, string>;
}

export interface GetResponse {
  /** The body. */
  res: Readable;
  /** The URL after redirects. */
  url: URL;
  /** Content-Length, when the server sent one. */
  total: number | undefined;
  /** True when the idle timer fired (the body stream then fails). */
  timedOut(): boolean;
}

function describeNetworkError(
  err: NodeJS.ErrnoException,
  url: URL,
  idleMs: number,
  timedOut: boolean,
): FetchFailure {
  const where = peerOf(err, url);
  if (timedOut)
    return new FetchFailure("KILN_DOWNLOAD_TIMEOUT", `timed out: no data received for ${fmtMs(idleMs)}`, {
      cause: err,
    });
  switch (err.code) {
    case "ECONNREFUSED":
      return new FetchFailure("KILN_DOWNLOAD_FAILED", `connection refused by ${where}`, { cause: err });
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return new FetchFailure("KILN_DOWNLOAD_FAILED", `host not found: ${url.hostname}`, { cause: err });
    case "ECONNRESET":
      return new FetchFailure("KILN_DOWNLOAD_FAILED", `connection reset by ${where}`, { cause: err });
    case "ETIMEDOUT":
      return new FetchFailure("KILN_DOWNLOAD_TIMEOUT", `connection to ${where} timed out`, { cause: err });
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return new FetchFailure("KILN_DOWNLOAD_FAILED", `${where} is unreachable`, { cause: err });
    default:
      if (err.code?.startsWith("ERR_TLS") || err.code?.includes("CERT")) {
        return new FetchFailure("KILN_DOWNLOAD_FAILED", `TLS error talking to ${where}: ${err.message}`, {
          cause: err,
        });
      }
      return new FetchFailure("KILN_DOWNLOAD_FAILED", err.message || String(err), { cause: err });
  }
}

/**
 * Who failed us: the URL's host, or the proxy when the error names another address (kiln
 * connects only to the two). Never the proxy URL itself: it may hold credentials.
 */
function peerOf(err: NodeJS.ErrnoException & { address?: string; port?: number }, url: URL): string {
  if (err.address === undefined || err.port === undefined) return url.host;
  const port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const isIp = /^[\d.]+$|:/.test(host);
  if (err.port !== port || (isIp && err.address !== host)) return `the proxy at ${err.address}:${err.port}`;
  return url.host;
}

export function fmtMs(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const s = ms / 1000;
  return Number.isInteger(s) ? `${s}s` : `${s.toFixed(1)}s`;
}

/** Map an error thrown while reading the body to a FetchFailure (keeps FetchFailures as they are). */
export function bodyFailure(err: unknown, got: GetResponse, idleMs: number): unknown {
  if (err instanceof FetchFailure) return err;
  const e = err as NodeJS.ErrnoException;
  if (e?.name === "AbortError") return err;
  if (got.timedOut()) return describeNetworkError(e, got.url, idleMs, true);
  if (TIMEOUTS.has(e?.code ?? "")) return describeNetworkError(e, got.url, idleMs, true);
  if (
    e?.code === "ECONNRESET" ||
    e?.code === "UND_ERR_SOCKET" ||
    e?.code === "UND_ERR_RES_CONTENT_LENGTH_MISMATCH" ||
    e?.message === "aborted"
  ) {
    return new FetchFailure(
      "KILN_DOWNLOAD_FAILED",
      `connection to ${got.url.host} closed before the download finished`,
      { cause: err },
    );
  }
  return describeNetworkError(e, got.url, idleMs, false);
}

/**
 * The dispatcher for one download: direct, or through the proxy that HTTP_PROXY / HTTPS_PROXY
 * name (NO_PROXY excepted; lower-case names too), as Packer and curl do. Read from the
 * environment when the download starts; undici is loaded only when something is downloaded.
 */
async function dispatcherFor(idleMs: number): Promise<Dispatcher> {
  const { EnvHttpProxyAgent } = await import("undici");
  return new EnvHttpProxyAgent({
    connectTimeout: idleMs,
    headersTimeout: idleMs,
    bodyTimeout: idleMs,
    // http:// is forwarded (GET http://host/… to the proxy), as curl and Go do; proxies allow
    // CONNECT to port 443 only by default (squid). https:// goes through a CONNECT tunnel.
    proxyTunnel: false,
  });
}

/** Drop a body that is not read (a redirect, an error page); its abort error is expected. */
function discard(body: Readable): void {
  body.on("error", () => undefined);
  body.destroy();
}

/**
 * GET `url`, following up to 10 redirects. Resolves once a 2xx response's headers arrived; the
 * caller reads `res`. Rejects with a FetchFailure for HTTP errors and network failures, or with
 * the signal's reason when aborted.
 */
export async function httpGet(url: URL, opts: GetOptions = {}): Promise<GetResponse> {
  const idleMs = opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const { request } = await import("undici");
  const dispatcher = await dispatcherFor(idleMs);
  const done = () => void dispatcher.destroy().catch(() => undefined);
  let current = url;
  try {
    for (let hop = 0; ; hop++) {
      if (current.protocol !== "http:" && current.protocol !== "https:") {
        throw new FetchFailure("KILN_DOWNLOAD_FAILED", `redirected to unsupported URL ${current.href}`);
      }
      opts.signal?.throwIfAborted();
      let res: Dispatcher.ResponseData;
      try {
        res = await request(current, {
          method: "GET",
          dispatcher,
          headers: { "user-agent": "kiln", "accept-encoding": "identity", ...opts.headers },
          headersTimeout: idleMs,
          bodyTimeout: idleMs,
          ...(opts.signal ? { signal: opts.signal } : {}),
        });
      } catch (err) {
        if (opts.signal?.aborted) throw opts.signal.reason;
        const e = err as NodeJS.ErrnoException;
        throw describeNetworkError(e, current, idleMs, TIMEOUTS.has(e.code ?? ""));
      }
      const status = res.statusCode;
      const header = (name: string) => {
        const v = res.headers[name];
        return Array.isArray(v) ? v[0] : v;
      };
      const location = header("location");
      if (status >= 300 && status < 400 && location) {
        discard(res.body);
        if (hop >= MAX_REDIRECTS)
          throw new FetchFailure("KILN_DOWNLOAD_FAILED", `too many redirects (more than ${MAX_REDIRECTS})`);
        current = new URL(location, current);
        continue;
      }
      if (status < 200 || status >= 300) {
        discard(res.body);
        const where = current.href === url.href ? "" : ` (after redirect to ${current.href})`;
        throw new FetchFailure(
          status === 404 ? "KILN_DOWNLOAD_NOT_FOUND" : "KILN_DOWNLOAD_FAILED",
          `HTTP ${status} ${STATUS_CODES[status] ?? ""}`.trim() + where,
        );
      }
      const len = header("content-length");
      const total = len !== undefined && /^\d+$/.test(len) ? Number(len) : undefined;
      let timedOut = false;
      res.body.on("error", (err: NodeJS.ErrnoException) => {
        if (TIMEOUTS.has(err.code ?? "")) timedOut = true;
      });
      // The connection (and the proxy tunnel) ends with the body: read to the end or destroyed.
      res.body.once("close", done);
      return { res: res.body, url: current, total, timedOut: () => timedOut };
    }
  } catch (err) {
    done();
    throw err;
  }
}

/** GET a small text file (a checksum file), at most `maxBytes`. */
export async function httpGetText(url: URL, opts: GetOptions & { maxBytes?: number } = {}): Promise<string> {
  const max = opts.maxBytes ?? 16 << 20;
  const got = await httpGet(url, opts);
  if (got.total !== undefined && got.total > max) {
    got.res.destroy();
    throw new FetchFailure("KILN_DOWNLOAD_FAILED", `${got.total} bytes is too large for a checksum file`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of got.res) {
      size += (chunk as Buffer).length;
      if (size > max)
        throw new FetchFailure(
          "KILN_DOWNLOAD_FAILED",
          `more than ${max} bytes is too large for a checksum file`,
        );
      chunks.push(chunk as Buffer);
    }
  } catch (err) {
    got.res.destroy();
    if (opts.signal?.aborted) throw opts.signal.reason;
    throw bodyFailure(err, got, opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS);
  }
  return Buffer.concat(chunks).toString("utf8");
}
