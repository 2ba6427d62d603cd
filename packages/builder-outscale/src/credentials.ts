/**
 * Which credentials, region, endpoint and client certificate an OUTSCALE component uses, in the
 * order of the Packer plugin (v1.6): the build file's options, then a profile of
 * `~/.osc/config.json` (only when `profile` — or the SDK's `OSC_PROFILE` — names one), then the
 * `OSC_*` environment variables, then the older `OUTSCALE_*` ones. (osc-config-spec puts the
 * environment before the file; kiln follows the plugin, see the README.)
 *
 * The access key and the secret key travel as a pair: both come from the first source that has
 * an access key, never one from here and one from there. Every other setting is taken from the
 * first source that has it. Pure: the environment and the file reader are parameters.
 */
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { errors } from "./errors.js";

export interface AccessOptions {
  access_key?: string;
  secret_key?: string;
  region?: string;
  custom_endpoint_oapi?: string;
  insecure_skip_tls_verify?: boolean;
  profile?: string;
  x509_cert_path?: string;
  x509_key_path?: string;
  ca_file?: string;
}

/** Where a value came from, for messages (never the value). */
export type Origin = "the build file" | `profile "${string}" of ${string}` | `$${string}`;

export interface Credentials {
  accessKey: string;
  secretKey: string;
  region: string;
  /** The base URL every action is appended to, e.g. https://api.eu-west-2.outscale.com/api/v1 */
  endpoint: string;
  insecure: boolean;
  /** The client certificate and its key (PEM), when one is configured. */
  x509?: { cert: string; key: string; origin: Origin };
  /** Extra CA certificates (PEM) to trust for the endpoint (kiln's ca_file). */
  ca?: string;
  origins: { keys: Origin; region: Origin | "the default"; endpoint: Origin | "the region" };
}

/** An entry of ~/.osc/config.json (osc-sdk-go's profile.Profile). */
interface ProfileEntry {
  access_key?: string;
  secret_key?: string;
  region?: string;
  x509_client_cert?: string;
  x509_client_cert_b64?: string;
  x509_client_key?: string;
  x509_client_key_b64?: string;
  tls_skip_verify?: boolean;
  protocol?: string;
  endpoints?: { api?: string };
  Default?: boolean;
}

export interface CredentialEnv {
  env: Record<string, string | undefined>;
  /** The home folder (~/.osc/config.json). */
  home?: string;
  /** Relative paths (certificates, ca_file) are relative to this folder. */
  baseDir: string;
  readFile?: (path: string) => string;
}

export const DEFAULT_REGION = "eu-west-2";

/** The OAPI base URL of a region (osc-sdk-go's endpoint rule; cn-southeast-1 is in .hk). */
export function regionEndpoint(region: string, protocol = "https"): string {
  const domain = region === "cn-southeast-1" ? "outscale.hk" : "outscale.com";
  return `${protocol}://api.${region}.${domain}/api/v1`;
}

interface Source {
  origin: Origin;
  accessKey?: string;
  secretKey?: string;
  region?: string;
  endpoint?: string;
  insecure?: boolean;
  cert?: { pem?: string; path?: string };
  key?: { pem?: string; path?: string };
}

const b64 = (s: string | undefined) => (s ? Buffer.from(s, "base64").toString("utf8") : undefined);
const nonEmpty = (s: string | undefined) => (s === undefined || s === "" ? undefined : s);

function envSources(env: Record<string, string | undefined>): Source[] {
  const e = (k: string) => nonEmpty(env[k]);
  const osc: Source = {
    origin: "$OSC_*",
    ...(e("OSC_ACCESS_KEY") ? { accessKey: e("OSC_ACCESS_KEY") } : {}),
    ...(e("OSC_SECRET_KEY") ? { secretKey: e("OSC_SECRET_KEY") } : {}),
    ...(e("OSC_REGION") ? { region: e("OSC_REGION") } : {}),
    ...(e("OSC_ENDPOINT_API") ? { endpoint: e("OSC_ENDPOINT_API") } : {}),
    ...(e("OSC_TLS_SKIP_VERIFY") ? { insecure: /^(1|true|yes)$/i.test(e("OSC_TLS_SKIP_VERIFY") ?? "") } : {}),
  };
  const cert = e("OSC_X509_CLIENT_CERT_B64")
    ? { pem: b64(e("OSC_X509_CLIENT_CERT_B64")) }
    : e("OSC_X509_CLIENT_CERT")
      ? { path: e("OSC_X509_CLIENT_CERT") }
      : undefined;
  const key = e("OSC_X509_CLIENT_KEY_B64")
    ? { pem: b64(e("OSC_X509_CLIENT_KEY_B64")) }
    : e("OSC_X509_CLIENT_KEY")
      ? { path: e("OSC_X509_CLIENT_KEY") }
      : undefined;
  if (cert) osc.cert = cert;
  if (key) osc.key = key;
  const old: Source = {
    origin: "$OUTSCALE_*",
    ...(e("OUTSCALE_ACCESSKEYID") ? { accessKey: e("OUTSCALE_ACCESSKEYID") } : {}),
    ...(e("OUTSCALE_SECRETKEYID") ? { secretKey: e("OUTSCALE_SECRETKEYID") } : {}),
    ...(e("OUTSCALE_REGION") ? { region: e("OUTSCALE_REGION") } : {}),
    ...(e("OUTSCALE_OAPI_URL") ? { endpoint: e("OUTSCALE_OAPI_URL") } : {}),
    ...(e("OUTSCALE_X509CERT") ? { cert: { path: e("OUTSCALE_X509CERT") } } : {}),
    ...(e("OUTSCALE_X509KEY") ? { key: { path: e("OUTSCALE_X509KEY") } } : {}),
  };
  return [osc, old];
}

function profileSource(o: AccessOptions, ce: CredentialEnv): Source | undefined {
  const name = o.profile ?? nonEmpty(ce.env.OSC_PROFILE);
  if (!name) return undefined;
  const file = nonEmpty(ce.env.OSC_CONFIG_FILE) ?? join(ce.home ?? homedir(), ".osc", "config.json");
  const read = ce.readFile ?? ((p: string) => readFileSync(p, "utf8"));
  let doc: Record<string, ProfileEntry>;
  try {
    doc = JSON.parse(read(file)) as Record<string, ProfileEntry>;
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === "ENOENT";
    throw errors.config(
      missing
        ? `profile "${name}" is set but ${file} does not exist`
        : `cannot read the OUTSCALE config file ${file}: ${(e as Error).message}`,
      "Create it with the profile (osc-cli's format: { \"" +
        name +
        '": { "access_key": …, "secret_key": …, "region": … } }), point OSC_CONFIG_FILE at it, or drop profile.',
    );
  }
  if (!doc || typeof doc !== "object" || Array.isArray(doc))
    throw errors.config(`${file} must hold a JSON object of profiles`);
  const entry = Object.hasOwn(doc, name) ? doc[name] : undefined;
  if (!entry || typeof entry !== "object")
    throw errors.config(
      `specified profile not found: "${name}" is not in ${file}`,
      `The profiles there: ${Object.keys(doc).join(", ") || "(none)"}.`,
    );
  const origin: Origin = `profile "${name}" of ${file}`;
  const s: Source = { origin };
  if (nonEmpty(entry.access_key)) s.accessKey = entry.access_key;
  if (nonEmpty(entry.secret_key)) s.secretKey = entry.secret_key;
  if (nonEmpty(entry.region)) s.region = entry.region;
  if (nonEmpty(entry.endpoints?.api)) s.endpoint = entry.endpoints?.api;
  else if (entry.protocol && s.region) s.endpoint = regionEndpoint(s.region, entry.protocol);
  if (entry.tls_skip_verify !== undefined) s.insecure = entry.tls_skip_verify === true;
  if (nonEmpty(entry.x509_client_cert_b64)) s.cert = { pem: b64(entry.x509_client_cert_b64) };
  else if (nonEmpty(entry.x509_client_cert)) s.cert = { path: entry.x509_client_cert };
  if (nonEmpty(entry.x509_client_key_b64)) s.key = { pem: b64(entry.x509_client_key_b64) };
  else if (nonEmpty(entry.x509_client_key)) s.key = { path: entry.x509_client_key };
  return s;
}

/** Resolve the credentials, or a configuration error that says which source lacks what. */
export function resolveCredentials(o: AccessOptions, ce: CredentialEnv): Credentials {
  if (!!o.access_key !== !!o.secret_key)
    throw errors.config(
      `set both access_key and secret_key, or neither (only ${o.access_key ? "access_key" : "secret_key"} is set)`,
      "Without both, kiln looks for them in the profile, then OSC_ACCESS_KEY/OSC_SECRET_KEY.",
    );
  const fileSource: Source = {
    origin: "the build file",
    ...(o.access_key ? { accessKey: o.access_key, secretKey: o.secret_key } : {}),
    ...(o.region ? { region: o.region } : {}),
    ...(o.custom_endpoint_oapi ? { endpoint: o.custom_endpoint_oapi } : {}),
    ...(o.insecure_skip_tls_verify !== undefined ? { insecure: o.insecure_skip_tls_verify } : {}),
    ...(o.x509_cert_path ? { cert: { path: o.x509_cert_path } } : {}),
    ...(o.x509_key_path ? { key: { path: o.x509_key_path } } : {}),
  };
  const profile = profileSource(o, ce);
  const sources = [fileSource, ...(profile ? [profile] : []), ...envSources(ce.env)];

  const keys = sources.find((s) => s.accessKey);
  if (!keys)
    throw errors.config(
      "no OUTSCALE access key: none in the build file, " +
        (profile ? `none in ${profile.origin}, ` : "no profile set, ") +
        "none in OSC_ACCESS_KEY or OUTSCALE_ACCESSKEYID",
      "Set access_key and secret_key (from sensitive variables), or profile, or OSC_ACCESS_KEY and OSC_SECRET_KEY.",
    );
  if (!keys.secretKey)
    throw errors.config(
      `${keys.origin} has an access key but no secret key`,
      keys.origin === "$OSC_*"
        ? "Set OSC_SECRET_KEY too."
        : keys.origin === "$OUTSCALE_*"
          ? "Set OUTSCALE_SECRETKEYID too."
          : "Add secret_key beside access_key.",
    );
  const first = <K extends keyof Source>(k: K) => sources.find((s) => s[k] !== undefined);
  const regionSrc = first("region");
  const region = regionSrc?.region ?? DEFAULT_REGION;
  if (!/^[a-z]+(-[a-z]+)*-[0-9]+$/.test(region))
    throw errors.config(
      `region ${JSON.stringify(region)} (from ${regionSrc?.origin}) is not a region name`,
      "Write it as e.g. eu-west-2, us-east-2 or cloudgouv-eu-west-1.",
    );
  const endpointSrc = first("endpoint");
  const endpoint = endpointSrc?.endpoint ?? regionEndpoint(region);
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw errors.config(
      `the OAPI endpoint ${JSON.stringify(endpoint)} (from ${endpointSrc?.origin}) is not a URL`,
      "Write custom_endpoint_oapi as the whole base URL, e.g. https://api.eu-west-2.outscale.com/api/v1.",
    );
  }
  if (url.protocol !== "https:" && url.protocol !== "http:")
    throw errors.config(`the OAPI endpoint must be https://…, not ${url.protocol}`);

  const certSrc = first("cert");
  const keySrc = first("key");
  if (!!certSrc !== !!keySrc)
    throw errors.config(
      certSrc
        ? `${certSrc.origin} gives an x509 client certificate but no key`
        : `${keySrc?.origin} gives an x509 client key but no certificate`,
      "Set x509_cert_path and x509_key_path together (or OSC_X509_CLIENT_CERT and OSC_X509_CLIENT_KEY).",
    );
  const read = ce.readFile ?? ((p: string) => readFileSync(p, "utf8"));
  const pemOf = (what: string, v: { pem?: string; path?: string }, origin: Origin): string => {
    if (v.pem !== undefined) return v.pem;
    const file = resolve(ce.baseDir, v.path as string);
    try {
      return read(file);
    } catch (e) {
      throw errors.config(
        `cannot read the x509 client ${what} ${file} (from ${origin}): ${(e as Error).message}`,
      );
    }
  };
  let x509: Credentials["x509"];
  if (certSrc?.cert && keySrc?.key) {
    const cert = pemOf("certificate", certSrc.cert, certSrc.origin);
    const key = pemOf("key", keySrc.key, keySrc.origin);
    if (!cert.includes("-----BEGIN CERTIFICATE-----"))
      throw errors.config(`the x509 client certificate from ${certSrc.origin} holds no PEM certificate`);
    if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key))
      throw errors.config(`the x509 client key from ${keySrc.origin} holds no PEM private key`);
    x509 = { cert, key, origin: certSrc.origin };
  }
  let ca: string | undefined;
  if (o.ca_file) {
    const file = resolve(ce.baseDir, o.ca_file);
    try {
      ca = read(file);
    } catch (e) {
      throw errors.config(`cannot read ca_file ${file}: ${(e as Error).message}`);
    }
    if (!ca.includes("-----BEGIN CERTIFICATE-----"))
      throw errors.config(`ca_file ${file} holds no PEM certificate`);
  }
  return {
    accessKey: keys.accessKey as string,
    secretKey: keys.secretKey,
    region,
    endpoint: endpoint.replace(/\/+$/, ""),
    insecure: first("insecure")?.insecure ?? false,
    ...(x509 ? { x509 } : {}),
    ...(ca ? { ca } : {}),
    origins: {
      keys: keys.origin,
      region: regionSrc?.origin ?? "the default",
      endpoint: endpointSrc?.origin ?? "the region",
    },
  };
}

/** The secrets of resolved credentials, to register for redaction. */
export function credentialSecrets(c: Credentials): string[] {
  return [c.accessKey, c.secretKey, ...(c.x509 ? [c.x509.key] : [])];
}
