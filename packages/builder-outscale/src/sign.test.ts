/**
 * The signer against the SigV4 test suite (aws-c-auth, header signing): canonical request,
 * string to sign and signature of every vector, except
 *  - the seven whose paths are deliberately left unnormalised (`/./`, `//`, `/foo/..`), which aws4
 *    normalises as it does every non-S3 path, and
 *  - the two whose paths hold characters that need escaping (a space, UTF-8): aws4 escapes the
 *    path a second time, as AWS documents for non-S3 services, where the suite escapes once.
 * An OAPI path is always `/api/v1/<Action>` (ASCII letters and slashes), where neither applies.
 */
import { loadSigV4Vectors } from "@kiln-testbed/outscale";
import { describe, expect, it } from "vitest";
import { amzDate, signingSteps, signRequest } from "./sign.js";

const vectors = loadSigV4Vectors();

function stepsOf(v: (typeof vectors)[number]) {
  const headers: Record<string, string> = {};
  for (const [k, val] of v.headers) {
    const key = Object.keys(headers).find((h) => h.toLowerCase() === k.toLowerCase()) ?? k;
    headers[key] = headers[key] !== undefined ? `${headers[key]},${val}` : val;
  }
  headers["X-Amz-Date"] = amzDate(new Date(v.context.timestamp));
  if (v.context.sign_body)
    headers["X-Amz-Content-Sha256"] = (v.canonicalRequest.split("\n").pop() as string).trim();
  const token = v.context.credentials.token;
  if (
    token &&
    !(v.context as { omit_session_token?: boolean }).omit_session_token &&
    !Object.keys(headers).some((h) => h.toLowerCase() === "x-amz-security-token")
  )
    headers["X-Amz-Security-Token"] = token;
  const host = headers.Host ?? headers.host ?? "example.amazonaws.com";
  return signingSteps({
    method: v.method,
    url: new URL(`https://${host}/`),
    path: v.target,
    body: v.body,
    headers,
    accessKey: v.context.credentials.access_key_id,
    secretKey: v.context.credentials.secret_access_key,
    region: v.context.region,
    service: v.context.service,
  });
}

describe("SigV4 vectors", () => {
  it("loads the whole suite", () => {
    expect(vectors.length).toBe(38);
  });
  const plainPath = (v: (typeof vectors)[number]) => /^[A-Za-z0-9/_.~-]*(\?.*)?$/.test(v.target);
  const normalized = vectors.filter((v) => v.context.normalize && plainPath(v));
  it.each(normalized.map((v) => [v.name, v] as const))("%s", (_n, v) => {
    const s = stepsOf(v);
    expect(s.canonicalRequest).toBe(v.canonicalRequest);
    expect(s.stringToSign).toBe(v.stringToSign);
    expect(s.signature).toBe(v.signature);
  });
  it("differs only on unnormalised paths and paths that need escaping", () => {
    const differing = vectors.filter((v) => stepsOf(v).signature !== v.signature).map((v) => v.name);
    const expected = vectors.filter((v) => !v.context.normalize || !plainPath(v)).map((v) => v.name);
    expect(differing.sort()).toEqual(expected.sort());
    expect(expected.length).toBe(9);
  });
});

describe("an OAPI request", () => {
  it("is signed for service osc in the region, over the exact body", () => {
    const url = new URL("https://api.eu-west-2.outscale.com/api/v1/ReadVms");
    const h = signRequest({
      method: "POST",
      url,
      body: '{"DryRun":true}',
      headers: { "Content-Type": "application/json" },
      accessKey: "AK1234567890",
      secretKey: "SK-secret",
      region: "eu-west-2",
      now: new Date("2026-01-02T03:04:05Z"),
    });
    expect(h["X-Amz-Date"]).toBe("20260102T030405Z");
    expect(h.Host).toBe("api.eu-west-2.outscale.com");
    expect(h.Authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AK1234567890\/20260102\/eu-west-2\/osc\/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=[0-9a-f]{64}$/,
    );
    const other = signRequest({
      method: "POST",
      url,
      body: '{"DryRun":false}',
      headers: { "Content-Type": "application/json" },
      accessKey: "AK1234567890",
      secretKey: "SK-secret",
      region: "eu-west-2",
      now: new Date("2026-01-02T03:04:05Z"),
    });
    expect(other.Authorization).not.toBe(h.Authorization);
  });
});
