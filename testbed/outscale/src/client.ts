/**
 * A raw test client for the double: signs with @smithy/signature-v4 (AWS4) or OUTSCALE's OSC4
 * scheme, or not at all, lets a test change any part of the request, and returns status and body
 * as sent. (The builder's own client is tested against the double elsewhere.)
 */
import https from "node:https";
import { Sha256 } from "@aws-crypto/sha256-js";
import { SignatureV4 } from "@smithy/signature-v4";
import { osc4Signature } from "./auth.js";

export interface RawCallOptions {
  accessKey: string;
  secretKey: string;
  region: string;
  service?: string;
  scheme?: "aws4" | "osc4" | "none";
  /** Signing time (default now). */
  now?: Date;
  /** Replaces the body after signing (a tampered request). */
  tamperBody?: string;
  /** Headers added after signing. */
  headers?: Record<string, string>;
  /** Signed headers to sign (default content-type, host, the date header). */
  omitHostFromSignature?: boolean;
  ca: string;
  cert?: { cert: string; key: string };
}

const amzDate = (d: Date) => d.toISOString().replace(/[:-]|\.\d{3}/g, "");

export async function rawCall(
  endpoint: string,
  action: string,
  body: unknown,
  o: RawCallOptions,
): Promise<{ status: number; body: Record<string, unknown>; headers: Record<string, unknown> }> {
  const url = new URL(`${endpoint}/${action}`);
  const text = typeof body === "string" ? body : JSON.stringify(body);
  const when = o.now ?? new Date();
  let headers: Record<string, string> = { "content-type": "application/json", host: url.host };
  const scheme = o.scheme ?? "aws4";
  if (scheme === "aws4") {
    const signer = new SignatureV4({
      credentials: { accessKeyId: o.accessKey, secretAccessKey: o.secretKey },
      region: o.region,
      service: o.service ?? "osc",
      sha256: Sha256,
      applyChecksum: false,
    });
    const signed = await signer.sign(
      {
        method: "POST",
        protocol: "https:",
        hostname: url.hostname,
        port: Number(url.port),
        path: url.pathname,
        headers: o.omitHostFromSignature ? { "content-type": "application/json" } : headers,
        body: text,
      },
      { signingDate: when },
    );
    headers = { ...headers, ...(signed.headers as Record<string, string>) };
  } else if (scheme === "osc4") {
    const date = amzDate(when);
    headers["x-osc-date"] = date;
    const signedHeaders = ["content-type", "host", "x-osc-date"];
    const p = {
      algorithm: "OSC4" as const,
      accessKey: o.accessKey,
      date: date.slice(0, 8),
      region: o.region,
      service: o.service ?? "api",
      terminator: "osc4_request",
      signedHeaders,
      signature: "",
    };
    const sig = osc4Signature(
      { method: "POST", path: url.pathname, headers, body: Buffer.from(text) },
      p,
      o.secretKey,
      date,
    );
    headers.authorization = `OSC4-HMAC-SHA256 Credential=${o.accessKey}/${p.date}/${p.region}/${p.service}/osc4_request, SignedHeaders=${signedHeaders.join(";")}, Signature=${sig}`;
  }
  const sent = o.tamperBody ?? text;
  headers = { ...headers, ...(o.headers ?? {}), "content-length": String(Buffer.byteLength(sent)) };
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      {
        method: "POST",
        headers,
        ca: o.ca,
        ...(o.cert ? { cert: o.cert.cert, key: o.cert.key } : {}),
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const t = Buffer.concat(chunks).toString("utf8");
          let parsed: Record<string, unknown> = {};
          try {
            parsed = JSON.parse(t) as Record<string, unknown>;
          } catch {
            parsed = { raw: t };
          }
          resolve({ status: res.statusCode ?? 0, body: parsed, headers: res.headers });
        });
      },
    );
    req.on("error", reject);
    req.end(sent);
  });
}
