/**
 * A Proxmox VE API client for the builders: `/api2/json` over HTTPS with node:https, ticket
 * (username + password) or API-token auth, PVE's error shape turned into clear errors, retries
 * of overloaded/unavailable answers, UPID tasks awaited with a timeout, and multipart ISO uploads
 * streamed from disk. No maintained npm PVE client fits (they wrap every endpoint but handle
 * neither tasks, TLS pinning nor errors as the builders need), so this one is small and our own.
 */
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import https from "node:https";
import { isIP } from "node:net";
import { rootCertificates, connect as tlsConnect } from "node:tls";
import { KilnError } from "@kiln/core";
import { abortableSleep } from "@kiln/sdk";

export type Params = Record<string, string | number | boolean | undefined>;

export interface PveClientOptions {
  /** proxmox_url: https://host:8006/api2/json (the /api2/json suffix is added when missing). */
  url: string;
  /** user@realm, or user@realm!tokenid with `token`. */
  username: string;
  password?: string;
  /** The API token's secret (UUID). */
  token?: string;
  /** Do not verify the server's certificate. */
  insecure?: boolean;
  /** Extra trusted CA certificates (PEM), e.g. PVE's /etc/pve/pve-root-ca.pem. */
  ca?: string;
  /** Per-request timeout. Default 60 s. */
  requestTimeoutMs?: number;
  /** Attempts for 429/502/503/504 answers and dropped connections. Default 5. */
  attempts?: number;
  log?: (line: string) => void;
  /** Receives secrets the client learns later (renewed tickets), to redact them. */
  onSecret?: (value: string) => void;
}

/** An error answer of the API: HTTP status, PVE's message and per-parameter errors. */
export class PveApiError extends KilnError {
  constructor(
    readonly status: number,
    readonly reason: string,
    readonly errors: Record<string, string> | undefined,
    readonly method: string,
    readonly path: string,
  ) {
    const detail = errors
      ? `${reason}: ${Object.entries(errors)
          .map(([k, v]) => `${k}: ${v.trim().replace(/\n/g, "; ")}`)
          .join(", ")}`
      : reason;
    super(
      status === 401 ? "KILN_PROXMOX_AUTH" : status === 403 ? "KILN_PROXMOX_PERMISSION" : "KILN_PROXMOX_API",
      `Proxmox API ${method} ${path}: ${status} ${detail}`,
      {
        hint:
          status === 401
            ? "Check username and password (or token id and secret). With a token, username is user@realm!tokenid and token its secret."
            : status === 403
              ? "The user or token lacks this privilege on the path shown; grant it (e.g. the PVEVMAdmin and PVEDatastoreUser roles), or for a token with privilege separation give the token the role too."
              : status === 400
                ? "A parameter was rejected by Proxmox; check the option named above."
                : undefined,
      },
    );
  }
}

export interface TaskStatus {
  status: "running" | "stopped";
  exitstatus?: string;
  type?: string;
  id?: string;
}

const RETRY_STATUS = new Set([429, 502, 503, 504]);
const TLS_CODES = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "CERT_UNTRUSTED",
]);

/** proxmox_url with `/api2/json` (no trailing slash). */
export function normalizeUrl(raw: string): URL {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new KilnError("KILN_PROXMOX_CONFIG", `[proxmox] proxmox_url ${JSON.stringify(raw)} is not a URL`, {
      hint: "Write it as https://<host>:8006/api2/json.",
    });
  }
  if (u.protocol !== "https:" && u.protocol !== "http:")
    throw new KilnError("KILN_PROXMOX_CONFIG", `[proxmox] proxmox_url must be https://…, not ${u.protocol}`, {
      hint: "Write it as https://<host>:8006/api2/json.",
    });
  const p = u.pathname.replace(/\/+$/, "");
  u.pathname = p.endsWith("/api2/json") ? p : `${p}/api2/json`;
  return u;
}

export class PveClient {
  readonly base: URL;
  private readonly agent: https.Agent;
  private ticket?: string;
  private csrf?: string;
  /** Tasks started through this client that have not been seen stopped, with their deadline. */
  readonly pendingTasks = new Map<string, { node: string; timeoutMs: number }>();
  private ticketAt = 0;

  constructor(private readonly o: PveClientOptions) {
    this.base = normalizeUrl(o.url);
    this.agent = new https.Agent({
      keepAlive: true,
      maxSockets: 4,
      rejectUnauthorized: !o.insecure,
      // `ca` replaces Node's root store: keep the public roots and add the user's CA.
      ...(o.ca ? { ca: [...rootCertificates, o.ca] } : {}),
    });
  }

  get usesToken(): boolean {
    return this.o.token !== undefined;
  }

  /** Log in (ticket auth) or check the token, and return PVE's version. */
  async connect(signal?: AbortSignal): Promise<{ version: string; release?: string }> {
    if (!this.usesToken) await this.login(signal);
    return this.call("GET", "/version", undefined, { signal });
  }

  /** A new ticket (they expire after 2 h; builds may last longer). */
  private async login(signal?: AbortSignal): Promise<void> {
    const r = await this.call<{ ticket: string; CSRFPreventionToken: string }>(
      "POST",
      "/access/ticket",
      { username: this.o.username, password: this.o.password ?? "" },
      { signal, noAuth: true },
    );
    this.ticket = r.ticket;
    this.csrf = r.CSRFPreventionToken;
    this.ticketAt = Date.now();
    this.o.onSecret?.(r.ticket);
    this.o.onSecret?.(r.CSRFPreventionToken);
  }

  /** Secrets this client holds (for redaction). */
  secrets(): string[] {
    return [this.o.password, this.o.token, this.ticket, this.csrf].filter((s): s is string => !!s);
  }

  get<T>(path: string, params?: Params, signal?: AbortSignal): Promise<T> {
    return this.call<T>("GET", path, params, { signal });
  }
  post<T>(path: string, params?: Params, signal?: AbortSignal): Promise<T> {
    return this.call<T>("POST", path, params, { signal });
  }
  put<T>(path: string, params?: Params, signal?: AbortSignal): Promise<T> {
    return this.call<T>("PUT", path, params, { signal });
  }
  delete<T>(path: string, params?: Params, signal?: AbortSignal): Promise<T> {
    return this.call<T>("DELETE", path, params, { signal });
  }

  /** Start an asynchronous call (returns a UPID) and wait for its task to finish. */
  async task(
    method: "POST" | "PUT" | "DELETE",
    node: string,
    path: string,
    params: Params | undefined,
    opts: { timeoutMs: number; signal?: AbortSignal; what: string },
  ): Promise<void> {
    const upid = await this.call<string | null>(method, path, params, { signal: opts.signal });
    if (typeof upid !== "string" || !upid.startsWith("UPID:")) return; // a synchronous answer
    await this.waitTask(node, upid, opts);
  }

  async waitTask(
    node: string,
    upid: string,
    opts: { timeoutMs: number; signal?: AbortSignal; what: string },
  ): Promise<TaskStatus> {
    const deadline = Date.now() + opts.timeoutMs;
    const known = this.pendingTasks.get(upid);
    this.pendingTasks.set(upid, { node, timeoutMs: Math.max(opts.timeoutMs, known?.timeoutMs ?? 0) });
    let delay = 100;
    for (;;) {
      const st = await this.get<TaskStatus>(
        `/nodes/${encodeURIComponent(node)}/tasks/${encodeURIComponent(upid)}/status`,
        undefined,
        opts.signal,
      );
      if (st.status === "stopped") {
        this.pendingTasks.delete(upid);
        const exit = st.exitstatus ?? "";
        if (exit === "OK" || exit.startsWith("WARNINGS")) return st;
        throw new KilnError(
          "KILN_PROXMOX_TASK",
          `[proxmox] ${opts.what} failed: ${exit || "unknown error"}`,
          {
            hint: `Proxmox task ${upid} ended with this status; its log is under Tasks in the Proxmox web UI.`,
          },
        );
      }
      if (Date.now() > deadline)
        throw new KilnError(
          "KILN_PROXMOX_TASK_TIMEOUT",
          `[proxmox] ${opts.what} did not finish within ${Math.round(opts.timeoutMs / 1000)}s (task ${upid})`,
          { hint: "Raise task_timeout (default 1m) if the Proxmox host is just slow." },
        );
      await abortableSleep(delay, opts.signal);
      delay = Math.min(1000, delay * 2);
    }
  }

  /**
   * Wait for tasks this client started and never saw finish (a wait that timed out or was
   * interrupted), so that what they make can be removed after them: each gets as long again as
   * it was allowed, at least a minute, all together at most `capMs`. Returns those still running.
   */
  async drainTasks(capMs: number): Promise<string[]> {
    const cap = Date.now() + capMs;
    for (const [upid, t] of [...this.pendingTasks]) {
      const left = Math.min(Date.now() + Math.max(t.timeoutMs, 60_000), cap) - Date.now();
      if (left <= 0) continue;
      await this.waitTask(t.node, upid, { timeoutMs: left, what: "task" }).catch(() => {});
    }
    return [...this.pendingTasks.keys()];
  }

  /** Upload a file to a storage (content iso/vztmpl/import) as multipart/form-data, then wait for the copy task. */
  async upload(
    node: string,
    storage: string,
    content: "iso" | "vztmpl" | "import",
    file: string,
    filename: string,
    opts: {
      timeoutMs: number;
      signal?: AbortSignal;
      checksum?: { algorithm: string; value: string };
      onProgress?: (done: number, total: number) => void;
    },
  ): Promise<string> {
    const size = (await stat(file)).size;
    const boundary = `----kiln${randomBytes(12).toString("hex")}`;
    const field = (name: string, value: string) =>
      `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
    let head = field("content", content);
    if (opts.checksum)
      head += field("checksum-algorithm", opts.checksum.algorithm) + field("checksum", opts.checksum.value);
    head +=
      `--${boundary}\r\nContent-Disposition: form-data; name="filename"; filename="${filename.replace(/"/g, "")}"\r\n` +
      "Content-Type: application/octet-stream\r\n\r\n";
    const tail = `\r\n--${boundary}--\r\n`;
    const length = Buffer.byteLength(head) + size + Buffer.byteLength(tail);
    const path = `/nodes/${encodeURIComponent(node)}/storage/${encodeURIComponent(storage)}/upload`;
    let upid: string | undefined;
    for (let attempt = 1; upid === undefined; attempt++) {
      try {
        upid = await this.send<string>(
          "POST",
          path,
          {
            contentType: `multipart/form-data; boundary=${boundary}`,
            length,
            write: async (req) => {
              req.write(head);
              let done = 0;
              const src = createReadStream(file, { highWaterMark: 1 << 20 });
              // The file is closed however the request ends (abort, error, server hanging up).
              const stop = new AbortController();
              req.once("close", () => {
                src.destroy();
                stop.abort();
              });
              try {
                for await (const chunk of src) {
                  if (!req.write(chunk)) await once(req, "drain", { signal: stop.signal });
                  done += (chunk as Buffer).length;
                  opts.onProgress?.(done, size);
                }
                req.end(tail);
              } finally {
                src.destroy();
              }
            },
          },
          { signal: opts.signal, timeoutMs: Math.max(opts.timeoutMs, 10 * 60_000) },
        );
      } catch (e) {
        // 503/429: PVE took nothing; send the file again (a few times).
        if (e instanceof RetryableError && (e.status === 503 || e.status === 429) && attempt < 3) {
          const wait = e.retryAfterMs ?? 1000 * attempt;
          this.o.log?.(
            `upload of ${filename}: ${e.final.message.replace(/^\[proxmox\] /, "")}; retrying in ${wait / 1000}s`,
          );
          await abortableSleep(wait, opts.signal);
          continue;
        }
        throw e instanceof RetryableError ? e.final : e;
      }
    }
    await this.waitTask(node, upid, { ...opts, what: `uploading ${filename} to ${storage}` });
    return `${storage}:${content}/${filename}`;
  }

  private async call<T>(
    method: string,
    path: string,
    params: Params | undefined,
    o: { signal?: AbortSignal | undefined; noAuth?: boolean },
  ): Promise<T> {
    const entries = Object.entries(params ?? {})
      .filter((e): e is [string, string | number | boolean] => e[1] !== undefined)
      .map(([k, v]): [string, string] => [k, typeof v === "boolean" ? (v ? "1" : "0") : String(v)]);
    const form = new URLSearchParams(entries).toString();
    const hasBody = method === "POST" || method === "PUT";
    const attempts = this.o.attempts ?? 5;
    let renewed = false;
    for (let attempt = 1; ; attempt++) {
      // Renew a ticket well before its 2 h lifetime ends.
      if (!o.noAuth && this.ticket && Date.now() - this.ticketAt > 90 * 60_000) await this.login(o.signal);
      try {
        return await this.send<T>(
          method,
          hasBody || !form ? path : `${path}?${form}`,
          hasBody ? { contentType: "application/x-www-form-urlencoded", body: form } : undefined,
          { signal: o.signal, noAuth: o.noAuth },
        );
      } catch (e) {
        if (e instanceof PveApiError && e.status === 401 && this.ticket && !o.noAuth && !renewed) {
          renewed = true; // an expired ticket: log in again, once
          await this.login(o.signal);
          continue;
        }
        const retryAfter = e instanceof RetryableError ? e.retryAfterMs : undefined;
        // Reads are retried on any transient failure; writes only when the server said it did
        // nothing (503, 429) — a 502/504 from a proxy may come after PVE acted.
        const retryable =
          e instanceof RetryableError &&
          attempt < attempts &&
          (method === "GET" ? e.status !== undefined || e.transient : e.status === 503 || e.status === 429);
        if (!retryable) throw e instanceof RetryableError ? e.final : e;
        const wait = retryAfter ?? Math.min(8000, 250 * 2 ** (attempt - 1));
        this.o.log?.(
          `${method} ${path}: ${e.final.message.replace(/^\[proxmox\] /, "")}; retrying in ${Math.round(wait / 100) / 10}s`,
        );
        await abortableSleep(wait, o.signal);
      }
    }
  }

  private send<T>(
    method: string,
    path: string,
    body:
      | { contentType: string; body: string }
      | {
          contentType: string;
          length: number;
          write: (req: import("node:http").ClientRequest) => Promise<void>;
        }
      | undefined,
    o: { signal?: AbortSignal | undefined; noAuth?: boolean | undefined; timeoutMs?: number },
  ): Promise<T> {
    const url = new URL(this.base.href + path.replace(/^\/?/, "/"));
    const headers: Record<string, string> = { Accept: "application/json" };
    if (!o.noAuth) {
      if (this.o.token !== undefined)
        headers.Authorization = `PVEAPIToken=${this.o.username}=${this.o.token}`;
      else if (this.ticket) {
        headers.Cookie = `PVEAuthCookie=${encodeURIComponent(this.ticket)}`;
        if (method !== "GET" && this.csrf) headers.CSRFPreventionToken = this.csrf;
      }
    }
    if (body) {
      headers["Content-Type"] = body.contentType;
      headers["Content-Length"] = String("body" in body ? Buffer.byteLength(body.body) : body.length);
    }
    const mod = url.protocol === "http:" ? import("node:http") : Promise.resolve(https);
    return mod.then(
      (lib) =>
        new Promise<T>((resolve, reject) => {
          if (o.signal?.aborted) {
            reject(o.signal.reason);
            return;
          }
          const req = lib.request(
            url,
            {
              method,
              headers,
              ...(url.protocol === "https:" ? { agent: this.agent } : {}),
              timeout: o.timeoutMs ?? this.o.requestTimeoutMs ?? 60_000,
              ...(o.signal ? { signal: o.signal } : {}),
            },
            (res) => {
              const chunks: Buffer[] = [];
              res.on("data", (c: Buffer) => chunks.push(c));
              res.on("error", (e) =>
                reject(new RetryableError(undefined, undefined, this.netError(method, url, e))),
              );
              res.on("end", () => {
                const status = res.statusCode ?? 0;
                const text = Buffer.concat(chunks).toString("utf8");
                let json: { data?: unknown; errors?: Record<string, string>; message?: string } = {};
                try {
                  if (text) json = JSON.parse(text);
                } catch {
                  // not JSON (a proxy's HTML page): the status line says enough
                }
                if (status >= 200 && status < 300) {
                  resolve(json.data as T);
                  return;
                }
                const reason = (res.statusMessage || json.message || "").trim() || `HTTP ${status}`;
                const err = new PveApiError(
                  status,
                  reason,
                  json.errors,
                  method,
                  url.pathname.replace(/^\/api2\/json/, ""),
                );
                if (RETRY_STATUS.has(status)) {
                  const ra = Number(res.headers["retry-after"]);
                  reject(
                    new RetryableError(
                      status,
                      Number.isFinite(ra) && ra >= 0 ? Math.min(ra, 30) * 1000 : undefined,
                      err,
                    ),
                  );
                } else reject(err);
              });
            },
          );
          req.on("timeout", () =>
            req.destroy(Object.assign(new Error("request timed out"), { code: "ETIMEDOUT" })),
          );
          req.on("error", (e) => {
            if (o.signal?.aborted) reject(o.signal.reason);
            else if (TLS_CODES.has((e as NodeJS.ErrnoException).code ?? ""))
              this.tlsError(url, e).then(reject, reject);
            else
              reject(
                new RetryableError(
                  undefined,
                  undefined,
                  this.netError(method, url, e),
                  !PERMANENT_NET.has((e as NodeJS.ErrnoException).code ?? ""),
                ),
              );
          });
          if (!body) req.end();
          else if ("body" in body) req.end(body.body);
          else body.write(req).catch((e) => req.destroy(e));
        }),
    );
  }

  private netError(method: string, url: URL, e: Error): KilnError {
    const code = (e as NodeJS.ErrnoException).code;
    return new KilnError(
      "KILN_PROXMOX_CONNECT",
      `[proxmox] ${method} ${url.origin}${url.pathname}: ${e.message}${code && !e.message.includes(code) ? ` (${code})` : ""}`,
      {
        hint:
          code === "ECONNREFUSED" || code === "ENOTFOUND" || code === "EHOSTUNREACH"
            ? "Check proxmox_url: host and port (PVE listens on 8006)."
            : "The Proxmox host did not answer in time; check the network, or that pveproxy is running.",
        cause: e,
      },
    );
  }

  private async tlsError(url: URL, e: Error): Promise<KilnError> {
    // Show the certificate's fingerprint, to compare with the one the Proxmox UI shows
    // (Datacenter → node → System → Certificates): a second connection that only reads it.
    const fp = await new Promise<string>((resolve) => {
      const s = tlsConnect(
        {
          host: url.hostname,
          port: Number(url.port || 443),
          // SNI takes host names only; an IP address there makes Node warn.
          ...(isIP(url.hostname.replace(/^\[|\]$/g, "")) ? {} : { servername: url.hostname }),
          rejectUnauthorized: false,
        },
        () => {
          const cert = s.getPeerX509Certificate();
          s.destroy();
          resolve(cert ? ` (certificate fingerprint ${cert.fingerprint256})` : "");
        },
      );
      s.setTimeout(5000, () => {
        s.destroy();
        resolve("");
      });
      s.on("error", () => resolve(""));
    });
    return new KilnError(
      "KILN_PROXMOX_TLS",
      `[proxmox] the certificate of ${url.host} is not trusted: ${e.message}${fp}`,
      {
        hint:
          "Proxmox VE uses a self-signed certificate unless you installed one. Trust its CA with proxmox_ca_file " +
          "(a copy of /etc/pve/pve-root-ca.pem from the Proxmox host; or NODE_EXTRA_CA_CERTS), " +
          "or — only on a network you trust — set insecure_skip_tls_verify: true.",
        cause: e,
      },
    );
  }

  close(): void {
    this.agent.destroy();
  }
}

class RetryableError extends Error {
  constructor(
    readonly status: number | undefined,
    readonly retryAfterMs: number | undefined,
    readonly final: KilnError,
    /** A network failure that may pass (reset, timeout), not one that will not (unknown host). */
    readonly transient = true,
  ) {
    super(final.message);
  }
}

const PERMANENT_NET = new Set([
  "ENOTFOUND",
  "ECONNREFUSED",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ERR_INVALID_URL",
]);
