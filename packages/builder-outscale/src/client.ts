/**
 * The OAPI client of every OUTSCALE component: `POST <endpoint>/<Action>` with a JSON body,
 * signed with SigV4 (sign.ts), an x509 client certificate when one is configured (in addition to
 * the signature, never instead), OUTSCALE's error shape turned into clear errors, and retries
 * with backoff for throttling (429, codes 24/25), 5xx answers and dropped connections — all
 * abortable. No maintained npm OAPI client exists (osc-sdk-js is not published to npm), so this
 * one is small and our own.
 */
import https from "node:https";
import { rootCertificates } from "node:tls";
import { abortableSleep, KilnError } from "@kiln/core";
import type { Credentials } from "./credentials.js";
import { signRequest } from "./sign.js";

export interface OapiErrorEntry {
  Code?: string;
  Type?: string;
  Details?: string;
}

export interface OapiClientOptions {
  /** Per-request timeout. Default 60 s. */
  requestTimeoutMs?: number;
  /** Attempts for throttled, 5xx and dropped requests. Default 6. */
  attempts?: number;
  /** First backoff between attempts (doubling, with jitter, at most 20 s). Default 500 ms. */
  backoffMs?: number;
  log?: (line: string) => void;
  /** The signing time (tests of clock skew). */
  now?: () => Date;
}

/** An error answer of the OAPI: HTTP status, OUTSCALE's errors and the request id. */
export class OapiError extends KilnError {
  constructor(
    readonly action: string,
    readonly status: number,
    readonly errors: OapiErrorEntry[],
    readonly requestId: string | undefined,
    hint: string | undefined,
  ) {
    const first = errors[0];
    const what = first
      ? `${first.Type ?? "Error"} (code ${first.Code ?? "?"})${first.Details ? `: ${first.Details}` : ""}`
      : "no error details";
    super(
      status === 401 || first?.Code === "4120" ? "KILN_OUTSCALE_AUTH" : "KILN_OUTSCALE_API",
      `[outscale] ${action}: HTTP ${status} ${what}${requestId ? ` (request ${requestId})` : ""}`,
      hint ? { hint } : {},
    );
  }
  get code0(): string | undefined {
    return this.errors[0]?.Code;
  }
}

/** An error answer that says the resource does not exist (it is gone already). */
export function isNotFound(e: unknown): boolean {
  return e instanceof OapiError && e.errors[0]?.Type === "InvalidResource";
}

/** How many seconds the API's clock (its Date header) is ahead of ours. */
export function clockSkewSeconds(serverDate: string | undefined, local: Date): number | undefined {
  if (!serverDate) return undefined;
  const t = Date.parse(serverDate);
  return Number.isNaN(t) ? undefined : Math.round((t - local.getTime()) / 1000);
}

/** What to do about an error answer, from its code (docs.outscale.com "Errors"). */
export function hintFor(
  code: string | undefined,
  status: number,
  skew: number | undefined,
  c: Credentials,
): string {
  if ((code === "1" || status === 401) && skew !== undefined && Math.abs(skew) > 300) {
    const min = Math.round(Math.abs(skew) / 60);
    return `This machine's clock is ${min} minute(s) ${skew > 0 ? "behind" : "ahead of"} the API's: OUTSCALE refuses signatures more than 5 minutes off its time, so even good keys fail. Set the clock right (NTP, e.g. systemctl start systemd-timesyncd) and build again.`;
  }
  switch (code) {
    case "1":
      return `The access key is known but the signature does not match: check that the secret key belongs to the access key (keys from ${c.origins.keys}, region ${c.region} from ${c.origins.region}; the region is part of the signature).`;
    case "4120":
      return `OUTSCALE does not know this access key (from ${c.origins.keys}): check it, and that it is active for region ${c.region}.`;
    case "5":
    case "4":
      return "The keys are valid but not allowed this action: grant it in the account's EIM policy.";
    case "13":
      return "Too many failed signatures in a row: OUTSCALE locks the key out for a minute (growing to 10). Fix the credentials, wait, then build again.";
    case "14":
      return c.x509
        ? `The account's API access rules refused the client certificate (from ${c.x509.origin}): it must be issued by a CA the rules name.`
        : "The account's API access rules require a client certificate (or another source IP): set x509_cert_path and x509_key_path.";
    case "24":
    case "25":
      return "OUTSCALE throttled the requests longer than kiln retries; build again later or with fewer parallel builds.";
    default:
      return status >= 500 ? "The API failed; this is on OUTSCALE's side. Build again later." : "";
  }
}

const RETRY_CODES = new Set(["6", "24", "25"]);
const NET_CODES = new Set(["ECONNRESET", "ECONNREFUSED", "EPIPE", "ETIMEDOUT", "EAI_AGAIN", "ENETUNREACH"]);

interface RawAnswer {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

export class OapiClient {
  readonly base: URL;
  private readonly agent: https.Agent;

  constructor(
    readonly credentials: Credentials,
    private readonly o: OapiClientOptions = {},
  ) {
    this.base = new URL(`${credentials.endpoint}/`);
    this.agent = new https.Agent({
      keepAlive: true,
      maxSockets: 4,
      rejectUnauthorized: !credentials.insecure,
      ...(credentials.ca ? { ca: [...rootCertificates, credentials.ca] } : {}),
      ...(credentials.x509 ? { cert: credentials.x509.cert, key: credentials.x509.key } : {}),
    });
  }

  close(): void {
    this.agent.destroy();
  }

  /** Call an action; throws OapiError for error answers, after retrying what may be retried. */
  async call<T = Record<string, unknown>>(
    action: string,
    body: Record<string, unknown> = {},
    signal?: AbortSignal,
  ): Promise<T> {
    const attempts = this.o.attempts ?? 6;
    let delay = this.o.backoffMs ?? 500;
    for (let attempt = 1; ; attempt++) {
      let answer: RawAnswer;
      try {
        answer = await this.send(action, JSON.stringify(body), signal);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code ?? "";
        if (signal?.aborted || attempt >= attempts || !NET_CODES.has(code))
          throw this.transportError(action, e);
        this.o.log?.(
          `${action}: ${code}, retrying in ${Math.round(delay)} ms (attempt ${attempt + 1} of ${attempts})`,
        );
        await abortableSleep(delay, signal);
        delay = Math.min(20_000, delay * 2);
        continue;
      }
      const parsed = parseJson(answer.body);
      if (answer.status === 200) return (parsed ?? {}) as T;
      const errs = Array.isArray(parsed?.Errors) ? (parsed?.Errors as OapiErrorEntry[]) : [];
      const code = errs[0]?.Code;
      const retryable =
        answer.status === 429 || answer.status >= 500 || (code !== undefined && RETRY_CODES.has(code));
      if (retryable && attempt < attempts) {
        const after = Number(answer.headers["retry-after"]);
        const wait = Number.isFinite(after) && after > 0 ? after * 1000 : delay * (0.75 + Math.random() / 2);
        this.o.log?.(
          `${action}: HTTP ${answer.status}${code ? ` code ${code}` : ""}, retrying in ${Math.round(wait)} ms (attempt ${attempt + 1} of ${attempts})`,
        );
        await abortableSleep(wait, signal);
        delay = Math.min(20_000, delay * 2);
        continue;
      }
      const skew = clockSkewSeconds(answer.headers.date as string | undefined, this.o.now?.() ?? new Date());
      const requestId = (parsed?.ResponseContext as { RequestId?: string } | undefined)?.RequestId;
      const hint = hintFor(code, answer.status, skew, this.credentials);
      throw new OapiError(action, answer.status, errs, requestId, hint || undefined);
    }
  }

  private transportError(action: string, e: unknown): Error {
    if ((e as Error).name === "AbortError" || e instanceof KilnError) return e as Error;
    const code = (e as NodeJS.ErrnoException).code ?? "";
    const tls = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME/.test(code);
    return new KilnError(
      "KILN_OUTSCALE_CONNECT",
      `[outscale] ${action}: cannot reach ${this.base.origin}: ${(e as Error).message}`,
      {
        hint: tls
          ? "The endpoint's TLS certificate is not trusted: give its CA with ca_file (or, for a test endpoint only, insecure_skip_tls_verify)."
          : "Check custom_endpoint_oapi / the region, and the network.",
        cause: e,
      },
    );
  }

  private send(action: string, body: string, signal?: AbortSignal): Promise<RawAnswer> {
    const url = new URL(encodeURIComponent(action), this.base);
    const c = this.credentials;
    const headers = signRequest({
      method: "POST",
      url,
      body,
      headers: { "Content-Type": "application/json" },
      accessKey: c.accessKey,
      secretKey: c.secretKey,
      region: c.region,
      ...(this.o.now ? { now: this.o.now() } : {}),
    });
    const t0 = Date.now();
    return new Promise<RawAnswer>((resolve, reject) => {
      const req = https.request(
        url,
        {
          method: "POST",
          agent: this.agent,
          headers: { ...headers, "Content-Length": String(Buffer.byteLength(body)), "User-Agent": "kiln" },
          timeout: this.o.requestTimeoutMs ?? 60_000,
          ...(signal ? { signal } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (d: Buffer) => chunks.push(d));
          res.on("error", reject);
          res.on("end", () => {
            this.o.log?.(`POST ${action} → ${res.statusCode} (${Date.now() - t0} ms)`);
            resolve({
              status: res.statusCode ?? 0,
              body: Buffer.concat(chunks).toString("utf8"),
              headers: res.headers,
            });
          });
        },
      );
      req.on("timeout", () =>
        req.destroy(Object.assign(new Error("request timed out"), { code: "ETIMEDOUT" })),
      );
      req.on("error", reject);
      req.end(body);
    });
  }
}

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(text) as unknown;
    return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
