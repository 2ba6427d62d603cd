/** A minimal HTTP(S) GET with redirects, an idle timeout and errors that say what happened. */
import http, { type IncomingMessage } from "node:http";
import https from "node:https";

export const DEFAULT_IDLE_TIMEOUT_MS = 60_000;
const MAX_REDIRECTS = 10;

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
  res: IncomingMessage;
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
  const where = url.host;
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
  if (e?.code === "ECONNRESET" || e?.message === "aborted") {
    return new FetchFailure(
      "KILN_DOWNLOAD_FAILED",
      `connection to ${got.url.host} closed before the download finished`,
      { cause: err },
    );
  }
  return describeNetworkError(e, got.url, idleMs, false);
}

/**
 * GET `url`, following up to 10 redirects. Resolves once a 2xx response's headers arrived; the
 * caller reads `res`. Rejects with a FetchFailure for HTTP errors and network failures, or with
 * the signal's reason when aborted.
 */
export async function httpGet(url: URL, opts: GetOptions = {}): Promise<GetResponse> {
  const idleMs = opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  let current = url;
  for (let hop = 0; ; hop++) {
    if (current.protocol !== "http:" && current.protocol !== "https:") {
      throw new FetchFailure("KILN_DOWNLOAD_FAILED", `redirected to unsupported URL ${current.href}`);
    }
    opts.signal?.throwIfAborted();
    let timedOut = false;
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const mod = current.protocol === "https:" ? https : http;
      const req = mod.request(current, {
        method: "GET",
        agent: false,
        headers: { "user-agent": "kiln", "accept-encoding": "identity", ...opts.headers },
        // `timeout` also covers connecting; the socket's idle timer then covers headers and body.
        timeout: idleMs,
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      req.on("timeout", () => {
        timedOut = true;
        req.destroy(Object.assign(new Error(`idle for ${idleMs}ms`), { code: "KILN_IDLE" }));
      });
      req.once("response", resolve);
      req.once("error", (err: NodeJS.ErrnoException) => {
        if (opts.signal?.aborted) reject(opts.signal.reason);
        else reject(describeNetworkError(err, current, idleMs, timedOut));
      });
      req.end();
    });
    const status = res.statusCode ?? 0;
    if (status >= 300 && status < 400 && res.headers.location) {
      res.resume();
      res.destroy();
      if (hop >= MAX_REDIRECTS)
        throw new FetchFailure("KILN_DOWNLOAD_FAILED", `too many redirects (more than ${MAX_REDIRECTS})`);
      current = new URL(res.headers.location, current);
      continue;
    }
    if (status < 200 || status >= 300) {
      res.resume();
      res.destroy();
      const where = current.href === url.href ? "" : ` (after redirect to ${current.href})`;
      throw new FetchFailure(
        status === 404 ? "KILN_DOWNLOAD_NOT_FOUND" : "KILN_DOWNLOAD_FAILED",
        `HTTP ${status} ${res.statusMessage ?? ""}`.trim() + where,
      );
    }
    const len = res.headers["content-length"];
    const total = len !== undefined && /^\d+$/.test(len) ? Number(len) : undefined;
    return { res, url: current, total, timedOut: () => timedOut };
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
