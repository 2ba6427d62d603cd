/**
 * Every row of the credentials order: build file > profile (only when named) > OSC_* >
 * OUTSCALE_*; the keys as a pair; x509 from each source (paths and _B64 contents);
 * OSC_CONFIG_FILE / OSC_PROFILE; a missing profile; errors that name the source.
 */
import { describe, expect, it } from "vitest";
import { type AccessOptions, type CredentialEnv, resolveCredentials } from "./credentials.js";

const CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const KEY = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n";
const files: Record<string, string> = {
  "/home/u/.osc/config.json": JSON.stringify({
    default: { access_key: "AK_DEFAULT", secret_key: "SK_DEFAULT", region: "eu-west-2" },
    dev: {
      access_key: "AK_PROFILE",
      secret_key: "SK_PROFILE",
      region: "us-east-2",
      endpoints: { api: "https://127.0.0.1:8443/api/v1" },
      x509_client_cert: "/certs/p.crt",
      x509_client_key_b64: Buffer.from(KEY).toString("base64"),
    },
  }),
  "/other/osc.json": JSON.stringify({ ci: { access_key: "AK_OTHER", secret_key: "SK_OTHER" } }),
  "/certs/p.crt": CERT,
  "/build/c.crt": CERT,
  "/build/c.key": KEY,
};
const readFile = (p: string) => {
  const f = files[p];
  if (f === undefined) throw Object.assign(new Error(`ENOENT: ${p}`), { code: "ENOENT" });
  return f;
};
const ce = (env: Record<string, string> = {}): CredentialEnv => ({
  env,
  home: "/home/u",
  baseDir: "/build",
  readFile,
});
const OSC = { OSC_ACCESS_KEY: "AK_OSC", OSC_SECRET_KEY: "SK_OSC", OSC_REGION: "cloudgouv-eu-west-1" };
const OLD = { OUTSCALE_ACCESSKEYID: "AK_OLD", OUTSCALE_SECRETKEYID: "SK_OLD", OUTSCALE_REGION: "us-west-1" };

describe("order", () => {
  it.each<[string, AccessOptions, Record<string, string>, string, string, string]>([
    [
      "build file over everything",
      { access_key: "AK_FILE", secret_key: "SK_FILE", profile: "dev" },
      { ...OSC, ...OLD },
      "AK_FILE",
      "the build file",
      "us-east-2",
    ],
    [
      "profile over env",
      { profile: "dev" },
      { ...OSC, ...OLD },
      "AK_PROFILE",
      'profile "dev" of /home/u/.osc/config.json',
      "us-east-2",
    ],
    ["OSC_* when no profile is named", {}, { ...OSC, ...OLD }, "AK_OSC", "$OSC_*", "cloudgouv-eu-west-1"],
    ["OUTSCALE_* last", {}, OLD, "AK_OLD", "$OUTSCALE_*", "us-west-1"],
    [
      "OSC_PROFILE names the profile",
      {},
      { OSC_PROFILE: "default", ...OLD },
      "AK_DEFAULT",
      'profile "default" of /home/u/.osc/config.json',
      "eu-west-2",
    ],
    [
      "OSC_CONFIG_FILE moves the file",
      { profile: "ci" },
      { OSC_CONFIG_FILE: "/other/osc.json", ...OSC },
      "AK_OTHER",
      'profile "ci" of /other/osc.json',
      "cloudgouv-eu-west-1",
    ],
  ])("%s", (_n, o, env, ak, origin, region) => {
    const c = resolveCredentials(o, ce(env));
    expect(c.accessKey).toBe(ak);
    expect(c.secretKey).toBe(ak.replace("AK", "SK"));
    expect(c.origins.keys).toBe(origin);
    expect(c.region).toBe(region);
  });

  it("the region and endpoint come from the first source that has them; the default region is eu-west-2", () => {
    const c = resolveCredentials({ access_key: "A", secret_key: "S" }, ce({}));
    expect(c.region).toBe("eu-west-2");
    expect(c.endpoint).toBe("https://api.eu-west-2.outscale.com/api/v1");
    expect(c.origins.region).toBe("the default");
    const d = resolveCredentials(
      { access_key: "A", secret_key: "S" },
      ce({ OSC_ENDPOINT_API: "https://x.test/api/v1/" }),
    );
    expect(d.endpoint).toBe("https://x.test/api/v1");
    expect(
      resolveCredentials({ access_key: "A", secret_key: "S", region: "cn-southeast-1" }, ce()).endpoint,
    ).toBe("https://api.cn-southeast-1.outscale.hk/api/v1");
    const p = resolveCredentials({ profile: "dev" }, ce());
    expect(p.endpoint).toBe("https://127.0.0.1:8443/api/v1");
  });

  it("keys are a pair: a secret key is never taken from another source", () => {
    expect(() =>
      resolveCredentials({}, ce({ OSC_ACCESS_KEY: "AK", OUTSCALE_SECRETKEYID: "SK_OLD" })),
    ).toThrow(/\$OSC_\* has an access key but no secret key/);
    expect(() => resolveCredentials({ access_key: "A" }, ce(OSC))).toThrow(
      /set both access_key and secret_key/,
    );
  });

  it("nothing anywhere is a clear error", () => {
    expect(() => resolveCredentials({}, ce())).toThrow(
      /no OUTSCALE access key: none in the build file, no profile set/,
    );
  });
});

describe("profiles", () => {
  it("a profile that is not there", () => {
    expect(() => resolveCredentials({ profile: "prod" }, ce())).toThrow(
      /specified profile not found: "prod" is not in \/home\/u\/.osc\/config.json/,
    );
  });
  it("a config file that is not there", () => {
    expect(() => resolveCredentials({ profile: "dev" }, { ...ce(), home: "/nobody" })).toThrow(
      /profile "dev" is set but \/nobody\/.osc\/config.json does not exist/,
    );
  });
  it("the file is not read when no profile is named", () => {
    expect(
      resolveCredentials(
        {},
        {
          ...ce(OSC),
          readFile: () => {
            throw new Error("read");
          },
        },
      ).accessKey,
    ).toBe("AK_OSC");
  });
});

describe("x509", () => {
  it("from the build file (paths relative to the build file)", () => {
    const c = resolveCredentials(
      { access_key: "A", secret_key: "S", x509_cert_path: "c.crt", x509_key_path: "c.key" },
      ce(),
    );
    expect(c.x509).toEqual({ cert: CERT, key: KEY, origin: "the build file" });
  });
  it("from a profile (path and _b64)", () => {
    expect(resolveCredentials({ profile: "dev" }, ce()).x509?.key).toBe(KEY);
  });
  it("from OSC_X509_CLIENT_CERT/KEY and their _B64 forms", () => {
    const a = resolveCredentials(
      {},
      ce({ ...OSC, OSC_X509_CLIENT_CERT: "/build/c.crt", OSC_X509_CLIENT_KEY: "/build/c.key" }),
    );
    expect(a.x509?.cert).toBe(CERT);
    expect(a.x509?.key).toBe(KEY); // Packer 1.5 read the key variable into the cert path
    const b = resolveCredentials(
      {},
      ce({
        ...OSC,
        OSC_X509_CLIENT_CERT_B64: Buffer.from(CERT).toString("base64"),
        OSC_X509_CLIENT_KEY_B64: Buffer.from(KEY).toString("base64"),
      }),
    );
    expect(b.x509?.key).toBe(KEY);
  });
  it("from OUTSCALE_X509CERT/KEY", () => {
    const c = resolveCredentials(
      {},
      ce({ ...OLD, OUTSCALE_X509CERT: "/build/c.crt", OUTSCALE_X509KEY: "/build/c.key" }),
    );
    expect(c.x509?.origin).toBe("$OUTSCALE_*");
  });
  it("a certificate without a key, or a file that is no PEM", () => {
    expect(() =>
      resolveCredentials({ access_key: "A", secret_key: "S", x509_cert_path: "c.crt" }, ce()),
    ).toThrow(/gives an x509 client certificate but no key/);
    expect(() =>
      resolveCredentials(
        { access_key: "A", secret_key: "S", x509_cert_path: "c.key", x509_key_path: "c.key" },
        ce(),
      ),
    ).toThrow(/holds no PEM certificate/);
    expect(() =>
      resolveCredentials(
        { access_key: "A", secret_key: "S", x509_cert_path: "nope.crt", x509_key_path: "c.key" },
        ce(),
      ),
    ).toThrow(/cannot read the x509 client certificate \/build\/nope.crt/);
  });
});

it("a bad region or endpoint says where it came from", () => {
  expect(() => resolveCredentials({}, ce({ ...OSC, OSC_REGION: "Paris" }))).toThrow(
    /region "Paris" \(from \$OSC_\*\)/,
  );
  expect(() =>
    resolveCredentials({ access_key: "A", secret_key: "S", custom_endpoint_oapi: "ftp://x" }, ce()),
  ).toThrow(/must be https/);
});
