/**
 * The double's check of a request's signature, independent of the builder's signer:
 *
 *  - `AWS4-HMAC-SHA256` (what OUTSCALE's SDKs and the Packer plugin send, with `X-Amz-Date`) is
 *    recomputed with @smithy/signature-v4 over exactly the headers the request says it signed;
 *  - `OSC4-HMAC-SHA256` (OUTSCALE's own scheme: `X-Osc-Date`, scope `…/osc4_request`, key
 *    `"OSC4" + secret`, as osc-ricochet-2 accepts it) by a separate small routine below.
 *
 * Both require `host` and the date header among the signed headers, the scope's date to be the
 * header's, the scope's region to be the double's (strict) and its service one of osc/oapi/api
 * (all three appear in official clients), a timestamp within ±5 minutes of the double's clock,
 * and the payload hash over the raw body. After 4 bad signatures in a row an access key is
 * locked out for a minute, growing a minute each time (SPEC info.description), whatever it sends.
 */
import crypto from "node:crypto";
import { Sha256 } from "@aws-crypto/sha256-js";
import { SignatureV4 } from "@smithy/signature-v4";
import { fault, type OapiFault } from "./api-error.js";

export interface AccessKeyDef {
  secretKey: string;
  accountId: string;
}

export interface SignedRequest {
  method: string;
  /** Path (with query) as received. */
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

const SERVICES = new Set(["osc", "oapi", "api"]);
const MAX_SKEW_MS = 5 * 60_000;

export interface Parsed {
  algorithm: "AWS4" | "OSC4";
  accessKey: string;
  date: string;
  region: string;
  service: string;
  terminator: string;
  signedHeaders: string[];
  signature: string;
}

function parseAuthorization(h: string | undefined): Parsed | string {
  if (!h) return "The request has no Authorization header.";
  const m = /^(AWS4|OSC4)-HMAC-SHA256\s+(.*)$/.exec(h.trim());
  if (!m) return "The Authorization header is not a SigV4 (AWS4-HMAC-SHA256 or OSC4-HMAC-SHA256) signature.";
  const parts = Object.fromEntries(
    (m[2] as string).split(/\s*,\s*/).map((p) => {
      const i = p.indexOf("=");
      return [p.slice(0, i), p.slice(i + 1)];
    }),
  ) as Record<string, string>;
  const cred = (parts.Credential ?? "").split("/");
  if (cred.length !== 5 || !parts.SignedHeaders || !parts.Signature)
    return "The Authorization header lacks Credential, SignedHeaders or Signature.";
  const [accessKey, date, region, service, terminator] = cred as [string, string, string, string, string];
  return {
    algorithm: m[1] as "AWS4" | "OSC4",
    accessKey,
    date,
    region,
    service,
    terminator,
    signedHeaders: parts.SignedHeaders.split(";"),
    signature: parts.Signature,
  };
}

const header = (r: SignedRequest, name: string): string | undefined => {
  const v = r.headers[name];
  return Array.isArray(v) ? v.join(",") : v;
};

/** `20260102T030405Z` → Date */
function parseAmzDate(s: string | undefined): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s ?? "");
  if (!m) return undefined;
  const [y, mo, d, h, mi, sec] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  return new Date(Date.UTC(y, mo - 1, d, h, mi, sec));
}

async function smithySignature(r: SignedRequest, p: Parsed, secret: string, when: Date): Promise<string> {
  const url = new URL(r.path, "https://x");
  const headers: Record<string, string> = {};
  for (const name of p.signedHeaders) if (name !== "x-amz-date") headers[name] = header(r, name) ?? "";
  const signer = new SignatureV4({
    credentials: { accessKeyId: p.accessKey, secretAccessKey: secret },
    region: p.region,
    service: p.service,
    sha256: Sha256,
    applyChecksum: false,
  });
  const signed = await signer.sign(
    {
      method: r.method,
      protocol: "https:",
      hostname: (header(r, "host") ?? "").replace(/:\d+$/, ""),
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers,
      body: r.body.toString("utf8"),
    },
    { signingDate: when, signableHeaders: new Set(p.signedHeaders) },
  );
  const auth = String(signed.headers.authorization ?? signed.headers.Authorization ?? "");
  return /Signature=([0-9a-f]+)/.exec(auth)?.[1] ?? "";
}

/** OUTSCALE's OSC4 scheme: SigV4 with its own names (a routine of its own, not the builder's). */
export function osc4Signature(r: SignedRequest, p: Parsed, secret: string, longDate: string): string {
  const url = new URL(r.path, "https://x");
  const enc = (s: string) =>
    encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  const path = url.pathname
    .split("/")
    .map((seg) => enc(decodeURIComponent(seg)))
    .join("/");
  const query = [...url.searchParams]
    .map(([k, v]) => `${enc(k)}=${enc(v)}`)
    .sort()
    .join("&");
  const canonHeaders = p.signedHeaders
    .map((n) => `${n}:${(header(r, n) ?? "").trim().replace(/\s+/g, " ")}\n`)
    .join("");
  const payload = crypto.createHash("sha256").update(r.body).digest("hex");
  const canonical = [r.method, path, query, canonHeaders, p.signedHeaders.join(";"), payload].join("\n");
  const scope = `${p.date}/${p.region}/${p.service}/osc4_request`;
  const toSign = [
    "OSC4-HMAC-SHA256",
    longDate,
    scope,
    crypto.createHash("sha256").update(canonical).digest("hex"),
  ].join("\n");
  const h = (k: crypto.BinaryLike, d: string) => crypto.createHmac("sha256", k).update(d).digest();
  const key = h(h(h(h(`OSC4${secret}`, p.date), p.region), p.service), "osc4_request");
  return crypto.createHmac("sha256", key).update(toSign).digest("hex");
}

export interface VerifierOptions {
  keys: Record<string, AccessKeyDef>;
  region: string;
  /** Refuse a scope whose region is not the double's (default true, as the real gateway). */
  strictRegion?: boolean;
  /** The double's clock. */
  now?: () => number;
}

export interface Verifier {
  /** The account of a correctly signed request, or the fault to answer. */
  verify(r: SignedRequest): Promise<{ accessKey: string; accountId: string } | OapiFault>;
  /** Lock a key out now (a fault for tests). */
  lockout(accessKey: string, ms?: number): void;
}

export function createVerifier(o: VerifierOptions): Verifier {
  const now = o.now ?? Date.now;
  const failures = new Map<string, { row: number; locks: number; until: number }>();
  const failed = (ak: string, f: OapiFault): OapiFault => {
    const s = failures.get(ak) ?? { row: 0, locks: 0, until: 0 };
    s.row++;
    if (s.row >= 4) {
      s.locks++;
      s.row = 0;
      s.until = now() + Math.min(10, s.locks) * 60_000;
    }
    failures.set(ak, s);
    return f;
  };
  return {
    lockout(ak, ms = 60_000) {
      const s = failures.get(ak) ?? { row: 0, locks: 0, until: 0 };
      s.until = now() + ms;
      failures.set(ak, s);
    },
    async verify(r) {
      const p = parseAuthorization(header(r, "authorization"));
      if (typeof p === "string") return fault.auth(p);
      const key = o.keys[p.accessKey];
      if (!key) return fault.unknownAccessKey();
      const lock = failures.get(p.accessKey);
      if (lock && lock.until > now()) return fault.lockedOut();
      const dateHeader = p.algorithm === "OSC4" ? "x-osc-date" : "x-amz-date";
      const longDate = header(r, dateHeader);
      const when = parseAmzDate(longDate);
      const bad = (details: string) => failed(p.accessKey, fault.auth(details));
      if (!when || !longDate) return bad(`The request has no valid ${dateHeader} header.`);
      if (!p.signedHeaders.includes("host") || !p.signedHeaders.includes(dateHeader))
        return bad(`SignedHeaders must include host and ${dateHeader}.`);
      if (p.date !== longDate.slice(0, 8))
        return bad("The credential scope's date is not the request's date.");
      if (p.terminator !== (p.algorithm === "OSC4" ? "osc4_request" : "aws4_request"))
        return bad(
          `The credential scope must end in ${p.algorithm === "OSC4" ? "osc4_request" : "aws4_request"}.`,
        );
      if ((o.strictRegion ?? true) && p.region !== o.region)
        return bad(`The credential scope's region ${p.region} is not this endpoint's (${o.region}).`);
      if (!SERVICES.has(p.service))
        return bad(`The credential scope's service ${p.service} is not osc, oapi or api.`);
      if (Math.abs(when.getTime() - now()) > MAX_SKEW_MS)
        return bad(
          `The request's time ${when.toISOString()} is more than 5 minutes off the server's ${new Date(now()).toISOString()}.`,
        );
      const expected =
        p.algorithm === "AWS4"
          ? await smithySignature(r, p, key.secretKey, when)
          : osc4Signature(r, p, key.secretKey, longDate);
      const a = Buffer.from(expected);
      const b = Buffer.from(p.signature);
      if (a.length !== b.length || !crypto.timingSafeEqual(a, b))
        return bad("The request signature does not match the one computed for this access key.");
      failures.delete(p.accessKey);
      return { accessKey: p.accessKey, accountId: key.accountId };
    },
  };
}
