/**
 * Each way of giving credentials, against the OAPI double's signature check (@smithy/signature-v4
 * verifies what aws4 signed): the build file, a profile of a config file, OSC_* and OUTSCALE_*
 * environment variables, and an x509 client certificate for an account whose API access rules
 * require one. Also: a clock that is off, explained; throttling retried.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { startOutscaleDouble } from "@kiln-testbed/outscale";
import { afterAll, describe, expect, it } from "vitest";
import { OapiClient, OapiError } from "./client.js";
import { resolveCredentials } from "./credentials.js";
import { openDouble } from "./test-double.js";

const t = await openDouble("creds");
afterAll(() => t.close());
const { osc, dir, caFile: ca } = t;
/** The credentials of the build file's options (no environment). */
const fromBuildFile = () => resolveCredentials(t.access, { env: {}, baseDir: dir });
const dryRun = async (
  c: ReturnType<typeof resolveCredentials>,
  o: ConstructorParameters<typeof OapiClient>[1] = {},
) => {
  const client = new OapiClient(c, { backoffMs: 10, ...o });
  try {
    return await client.call("ReadVms", { DryRun: true });
  } finally {
    client.close();
  }
};

describe("each source of credentials signs requests the double accepts", () => {
  it("the build file", async () => {
    expect(await dryRun(fromBuildFile())).toHaveProperty("ResponseContext");
  });
  it("a profile of $OSC_CONFIG_FILE", async () => {
    const file = join(dir, "config.json");
    writeFileSync(
      file,
      JSON.stringify({
        ci: {
          access_key: osc.accessKey,
          secret_key: osc.secretKey,
          region: osc.region,
          endpoints: { api: osc.endpoint },
        },
      }),
    );
    const c = resolveCredentials(
      { profile: "ci", ca_file: ca },
      { env: { OSC_CONFIG_FILE: file }, baseDir: dir },
    );
    expect(c.origins.keys).toMatch(/^profile "ci"/);
    expect(await dryRun(c)).toHaveProperty("ResponseContext");
  });
  it.each([
    {
      what: "OSC_* environment variables",
      origin: "$OSC_*",
      env: {
        OSC_ACCESS_KEY: osc.accessKey,
        OSC_SECRET_KEY: osc.secretKey,
        OSC_REGION: osc.region,
        OSC_ENDPOINT_API: osc.endpoint,
      },
    },
    {
      what: "the older OUTSCALE_* environment variables",
      origin: "$OUTSCALE_*",
      env: {
        OUTSCALE_ACCESSKEYID: osc.accessKey,
        OUTSCALE_SECRETKEYID: osc.secretKey,
        OUTSCALE_REGION: osc.region,
        OUTSCALE_OAPI_URL: osc.endpoint,
      },
    },
  ])("$what", async ({ origin, env }) => {
    const c = resolveCredentials({ ca_file: ca }, { env, baseDir: dir });
    expect(c.origins.keys).toBe(origin);
    expect(await dryRun(c)).toHaveProperty("ResponseContext");
  });
});

describe("x509 client certificates", async () => {
  const probe = await startOutscaleDouble();
  const { ca: rulesCa, client } = probe.makeClientCert("kiln-ci");
  await probe.close();
  const strict = await startOutscaleDouble({
    accounts: [
      { accountId: "210987654321", keys: { AKX509CLIENT: "x509-secret-key-1" }, caPems: [rulesCa.cert] },
    ],
  });
  afterAll(() => strict.close());
  const strictCa = join(dir, "strict-ca.pem");
  writeFileSync(strictCa, strict.caCert);
  writeFileSync(join(dir, "client.crt"), client.cert);
  writeFileSync(join(dir, "client.key"), client.key);
  const base = {
    access_key: "AKX509CLIENT",
    secret_key: "x509-secret-key-1",
    region: strict.region,
    custom_endpoint_oapi: strict.endpoint,
    ca_file: strictCa,
  };
  it("without one: 401 code 14, and the hint says to set x509_cert_path", async () => {
    const e = await dryRun(resolveCredentials(base, { env: {}, baseDir: dir })).catch((x) => x);
    expect(e).toBeInstanceOf(OapiError);
    expect(e.message).toMatch(/ReadVms: HTTP 401 AccessDenied \(code 14\)/);
    expect(e.hint).toMatch(/x509_cert_path/);
  });
  it("with it (and the signature, both sent): 200", async () => {
    const c = resolveCredentials(
      { ...base, x509_cert_path: "client.crt", x509_key_path: "client.key" },
      { env: {}, baseDir: dir },
    );
    expect(await dryRun(c)).toHaveProperty("ResponseContext");
  });
  it("from OSC_X509_CLIENT_CERT_B64 / _KEY_B64", async () => {
    const env = {
      OSC_X509_CLIENT_CERT_B64: Buffer.from(client.cert).toString("base64"),
      OSC_X509_CLIENT_KEY_B64: Buffer.from(client.key).toString("base64"),
    };
    expect(await dryRun(resolveCredentials(base, { env, baseDir: dir }))).toHaveProperty("ResponseContext");
  });
});

describe("errors that explain themselves", () => {
  const c = fromBuildFile;
  it("a clock 10 minutes off: AuthFailure, and the hint says it is the clock", async () => {
    const e = await dryRun(c(), { now: () => new Date(Date.now() - 10 * 60_000) }).catch((x) => x);
    expect(e.message).toMatch(/HTTP 401 AccessDenied \(code 1\)/);
    expect(e.hint).toMatch(/clock is 10 minute\(s\) behind the API's/);
    expect((await dryRun(c())) ?? {}).toHaveProperty("ResponseContext"); // ends the row of failures
  });
  it("a wrong secret: the hint names where the keys came from", async () => {
    const bad = { ...c(), secretKey: "not-the-secret" };
    const e = await dryRun(bad).catch((x) => x);
    expect(e.hint).toMatch(/keys from the build file/);
    expect(e.message).not.toContain("not-the-secret");
    await dryRun(c());
  });
  it("throttling is retried with backoff", async () => {
    osc.faults.throttle(2, "ReadVms");
    expect(await dryRun(c())).toHaveProperty("ResponseContext");
  });
});
