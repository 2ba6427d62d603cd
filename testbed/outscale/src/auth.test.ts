/**
 * The double's signature and certificate checks (RESEARCH.md §2.11 "Verifier" and "mTLS"), with
 * requests signed by @smithy/signature-v4 and by OUTSCALE's OSC4 scheme.
 */
import { afterAll, describe, expect, it } from "vitest";
import { rawCall } from "./client.js";
import { startOutscaleDouble } from "./server.js";

const osc = await startOutscaleDouble();
afterAll(() => osc.close());
const base = { accessKey: osc.accessKey, secretKey: osc.secretKey, region: osc.region, ca: osc.caCert };
const call = (
  o: Partial<Parameters<typeof rawCall>[3]> = {},
  body: unknown = { DryRun: true },
  action = "ReadVms",
) => rawCall(osc.endpoint, action, body, { ...base, ...o });
const codeOf = (r: { body: Record<string, unknown> }) =>
  (r.body.Errors as Array<{ Code: string }> | undefined)?.[0]?.Code;

describe("signatures", () => {
  it.each(["osc", "oapi", "api"])("AWS4 with service %s → 200 (DryRun)", async (service) => {
    const r = await call({ service });
    expect(r.status).toBe(200);
    expect(r.body.ResponseContext).toBeDefined();
  });
  it("OSC4-HMAC-SHA256 with X-Osc-Date → 200", async () => {
    expect((await call({ scheme: "osc4" })).status).toBe(200);
  });
  it.each([
    ["a tampered body", { tamperBody: '{"DryRun":false}' }],
    ["a wrong secret", { secretKey: "wrong" }],
    ["a date 6 minutes old", { now: new Date(Date.now() - 6 * 60_000) }],
    ["SignedHeaders without host", { omitHostFromSignature: true }],
    ["region us-east-2 in the scope", { region: "us-east-2" }],
    ["service ec2", { service: "ec2" }],
    ["no signature", { scheme: "none" as const }],
  ])("%s → 401 code 1", async (_n, o) => {
    const r = await call(o);
    expect(r.status).toBe(401);
    expect(codeOf(r)).toBe("1");
    expect((r.body.Errors as Array<{ Type: string }>)[0]?.Type).toBe("AccessDenied");
    expect((await call()).status).toBe(200); // a good signature ends the row of failures
  });
  it("a server clock 10 minutes ahead (fault): the good signature is too old → 401, with both times", async () => {
    osc.faults.clockOffset(10 * 60_000);
    try {
      const r = await call();
      expect([r.status, codeOf(r)]).toEqual([401, "1"]);
      expect(JSON.stringify(r.body)).toMatch(/more than 5 minutes off the server's/);
      expect(Date.parse(String(r.headers.date)) - Date.now()).toBeGreaterThan(9 * 60_000);
    } finally {
      osc.faults.clockOffset(0);
    }
    expect((await call()).status).toBe(200);
  });
  it("an unknown access key → 400 code 4120", async () => {
    const r = await call({ accessKey: "AKNOBODY" });
    expect([r.status, codeOf(r)]).toEqual([400, "4120"]);
  });
});

describe("lockout", () => {
  it("the 5th bad attempt in a row → code 13, even with a good signature", async () => {
    const o = await startOutscaleDouble();
    try {
      const b = { accessKey: o.accessKey, secretKey: o.secretKey, region: o.region, ca: o.caCert };
      for (let i = 0; i < 4; i++)
        expect(codeOf(await rawCall(o.endpoint, "ReadVms", {}, { ...b, secretKey: "bad" }))).toBe("1");
      const good = await rawCall(o.endpoint, "ReadVms", {}, b);
      expect([good.status, codeOf(good)]).toEqual([401, "13"]);
    } finally {
      await o.close();
    }
  });
});

describe("x509 access rules", async () => {
  const probe = await startOutscaleDouble();
  const { ca, client } = probe.makeClientCert("kiln");
  const other = probe.makeClientCert("intruder");
  await probe.close();
  const o = await startOutscaleDouble({
    accounts: [{ accountId: "123456789012", keys: { AKCERT: "cert-secret-key" }, caPems: [ca.cert] }],
  });
  afterAll(() => o.close());
  const b = { accessKey: "AKCERT", secretKey: "cert-secret-key", region: o.region, ca: o.caCert };
  it("no certificate → 401 code 14", async () => {
    const r = await rawCall(o.endpoint, "ReadVms", {}, b);
    expect([r.status, codeOf(r)]).toEqual([401, "14"]);
  });
  it("a certificate from another CA → 401 code 14", async () => {
    const r = await rawCall(o.endpoint, "ReadVms", {}, { ...b, cert: other.client });
    expect([r.status, codeOf(r)]).toEqual([401, "14"]);
  });
  it("the right certificate and a signature → 200", async () => {
    expect((await rawCall(o.endpoint, "ReadVms", {}, { ...b, cert: client })).status).toBe(200);
  });
  it("the right certificate without a signature → 401 code 1", async () => {
    const r = await rawCall(o.endpoint, "ReadVms", {}, { ...b, cert: client, scheme: "none" });
    expect([r.status, codeOf(r)]).toEqual([401, "1"]);
  });
});
