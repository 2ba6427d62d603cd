/**
 * A small client for Kamatera's cloudcli API: JSON bodies with the AuthClientId/AuthSecret
 * headers, any non-200 answer an error carrying the API's `message`, and bounded retries with
 * backoff (retry.ts) — for calls that may be repeated, on 5xx, 429 and network errors; for
 * the others only where the API did nothing (429). Logs name the call (method and path), never
 * its body: a create request holds the first-boot script and the SSH key. No Kamatera client
 * exists on npm (RESEARCH 3), so this one is our own.
 */
import http from "node:http";
import https from "node:https";
import { abortableSleep, KilnError } from "@kiln/core";
import { type Failure, retryDelay } from "./retry.js";

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export interface KamateraClientOptions {
  /** api_url without a trailing slash. */
  url: string;
  clientId: string;
  secret: string;
  /** Per-request timeout. Default 60 s. */
  requestTimeoutMs?: number;
  /** Attempts of a call that may be repeated. Default 5. */
  attempts?: number;
  /** Lines about calls and retries (never bodies). */
  log?: (line: string) => void;
}

export interface CallOptions {
  signal?: AbortSignal;
  /**
   * `idempotent` (reads, queue polls, and calls that do the same when repeated): retried on
   * 5xx, 429 and network errors. `once` (create, clone, power): retried only on 429.
   */
  retry: "idempotent" | "once";
  /** Do not log the call (queue polls). */
  quiet?: boolean;
}

/** An error answer of the API. */
export class KamateraApiError extends KilnError {
  constructor(
    readonly status: number,
    readonly apiMessage: string,
    readonly method: string,
    readonly path: string,
  ) {
    super(
      status === 401 || status === 403 ? "KILN_KAMATERA_AUTH" : "KILN_KAMATERA_API",
      `[kamatera] ${method} ${path}: ${status} ${apiMessage}`,
      {
        hint:
          status === 401 || status === 403
            ? "Kamatera refused the credentials: check api_client_id and api_secret (or KAMATERA_API_CLIENT_ID / KAMATERA_API_SECRET), made in the Kamatera console under API → Keys."
            : status === 429
              ? "Kamatera is rate-limiting this account; kiln retried. Try again later."
              : undefined,
      },
    );
  }
}

const PERMANENT_NET = new Set([
  "ENOTFOUND",
  "ECONNREFUSED",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ERR_INVALID_URL",
]);

export class KamateraClient {
  private readonly base: URL;
  private readonly agent: http.Agent;

  constructor(private readonly o: KamateraClientOptions) {
    this.base = new URL(o.url);
    const Agent = this.base.protocol === "https:" ? https.Agent : http.Agent;
    this.agent = new Agent({ keepAlive: true, maxSockets: 4 });
  }

  get host(): string {
    return this.base.host;
  }

  get<T = Json>(path: string, query: Record<string, string>, o: CallOptions): Promise<T> {
    const qs = new URLSearchParams(query).toString();
    return this.call<T>("GET", qs ? `${path}?${qs}` : path, undefined, o);
  }

  post<T = Json>(path: string, body: Record<string, unknown>, o: CallOptions): Promise<T> {
    return this.call<T>("POST", path, body, o);
  }

  async call<T>(
    method: "GET" | "POST",
    path: string,
    body: Record<string, unknown> | undefined,
    o: CallOptions,
  ): Promise<T> {
    const attempts = o.retry === "idempotent" ? (this.o.attempts ?? 5) : 3;
    const shown = path.replace(/\?.*$/, "");
    if (!o.quiet) this.o.log?.(`${method} ${shown}`);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.send<T>(method, path, body, o.signal);
      } catch (e) {
        if (o.signal?.aborted) throw e;
        const failure = failureOf(e);
        const wait = failure ? retryDelay(failure, attempt, attempts, o.retry) : undefined;
        if (wait === undefined) throw e instanceof NetError ? e.final : e;
        const what = e instanceof NetError ? e.final.message : (e as Error).message;
        this.o.log?.(`${what.replace(/^\[kamatera\] /, "")}; retrying in ${Math.round(wait / 100) / 10}s`);
        await abortableSleep(wait, o.signal);
      }
    }
  }

  private send<T>(
    method: string,
    path: string,
    body: Record<string, unknown> | undefined,
    signal?: AbortSignal,
  ): Promise<T> {
    const url = new URL(this.base.pathname.replace(/\/+$/, "") + path, this.base);
    const raw = body === undefined ? undefined : JSON.stringify(body);
    const mod = url.protocol === "https:" ? https : http;
    return new Promise<T>((resolve, reject) => {
      const req = mod.request(
        url,
        {
          method,
          agent: this.agent,
          headers: {
            AuthClientId: this.o.clientId,
            AuthSecret: this.o.secret,
            Accept: "application/json",
            ...(raw !== undefined
              ? { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(raw) }
              : {}),
          },
          signal,
          timeout: this.o.requestTimeoutMs ?? 60_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("error", (e) => reject(new NetError(this.netError(method, path, e), true)));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            let parsed: unknown;
            let isJson = true;
            try {
              parsed = text.trim() ? JSON.parse(text) : undefined;
            } catch {
              isJson = false;
            }
            const status = res.statusCode ?? 0;
            if (status === 200 && isJson && parsed !== undefined) return resolve(parsed as T);
            const message =
              isJson &&
              parsed &&
              typeof parsed === "object" &&
              typeof (parsed as { message?: unknown }).message === "string"
                ? (parsed as { message: string }).message
                : status === 200
                  ? `the answer is not JSON: ${JSON.stringify(text.slice(0, 120))}`
                  : text.trim().slice(0, 200) || (http.STATUS_CODES[status] ?? "error");
            const err = new KamateraApiError(status, message, method, path.replace(/\?.*$/, ""));
            (err as KamateraApiError & { retryAfterMs?: number }).retryAfterMs = retryAfterOf(
              res.headers["retry-after"],
            );
            reject(err);
          });
        },
      );
      req.on("timeout", () =>
        req.destroy(Object.assign(new Error("request timed out"), { code: "ETIMEDOUT" })),
      );
      req.on("error", (e) => {
        if (signal?.aborted) reject(signal.reason);
        else
          reject(
            new NetError(
              this.netError(method, path, e),
              !PERMANENT_NET.has((e as NodeJS.ErrnoException).code ?? ""),
            ),
          );
      });
      req.end(raw);
    });
  }

  private netError(method: string, path: string, e: Error): KilnError {
    const code = (e as NodeJS.ErrnoException).code;
    return new KilnError(
      "KILN_KAMATERA_CONNECT",
      `[kamatera] ${method} ${this.base.origin}${path.replace(/\?.*$/, "")}: ${e.message}${code && !e.message.includes(code) ? ` (${code})` : ""}`,
      {
        hint:
          code === "ECONNREFUSED" || code === "ENOTFOUND"
            ? "Check api_url (or KAMATERA_API_URL); leave it unset for https://cloudcli.cloudwm.com."
            : "The Kamatera API did not answer; check the network.",
        cause: e,
      },
    );
  }

  close(): void {
    this.agent.destroy();
  }
}

/** A network failure, with whether it may pass (reset, timeout) or not (unknown host). */
class NetError extends Error {
  constructor(
    readonly final: KilnError,
    readonly transient: boolean,
  ) {
    super(final.message);
  }
}

function failureOf(e: unknown): Failure | undefined {
  if (e instanceof NetError) return { network: true, transient: e.transient };
  if (e instanceof KamateraApiError)
    return {
      status: e.status,
      message: e.apiMessage,
      ...((e as { retryAfterMs?: number }).retryAfterMs !== undefined
        ? { retryAfterMs: (e as { retryAfterMs?: number }).retryAfterMs as number }
        : {}),
    };
  return undefined;
}

function retryAfterOf(v: string | string[] | undefined): number | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  if (!s) return undefined;
  const secs = Number(s);
  if (Number.isFinite(secs) && secs >= 0) return secs * 1000;
  const at = Date.parse(s);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}
