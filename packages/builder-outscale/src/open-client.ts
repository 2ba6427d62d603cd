/** The API client of a component: credentials resolved from the options, secrets registered, log wired to the UI. */
import type { Ui } from "@kiln/core";
import { OapiClient } from "./client.js";
import { type AccessOptions, credentialSecrets, resolveCredentials } from "./credentials.js";

export interface ClientContext {
  ui: Ui;
  baseDir: string;
  secret(value: string): void;
  env?: Record<string, string | undefined>;
}

export function openClient(
  o: AccessOptions & { mfa_code?: string; token?: string; skip_metadata_api_check?: boolean },
  ctx: ClientContext,
  override?: { region?: string; endpoint?: string },
): OapiClient {
  for (const s of [o.access_key, o.secret_key, o.mfa_code, o.token]) if (s) ctx.secret(s);
  if (o.mfa_code) ctx.ui.error("mfa_code is ignored: OAPI signatures take no MFA code.");
  if (o.token) ctx.ui.error("token is ignored: OAPI access keys take no session token.");
  if (o.skip_metadata_api_check)
    ctx.ui.message("skip_metadata_api_check is ignored: kiln never calls the metadata API.");
  const creds = resolveCredentials(o, { env: ctx.env ?? process.env, baseDir: ctx.baseDir });
  for (const s of credentialSecrets(creds)) ctx.secret(s);
  const c = override
    ? {
        ...creds,
        ...(override.region ? { region: override.region } : {}),
        ...(override.endpoint ? { endpoint: override.endpoint } : {}),
      }
    : creds;
  if (c.endpoint.startsWith("http://"))
    ctx.ui.error(
      `The OAPI endpoint ${c.endpoint} is plain HTTP: the signed requests cross the network unencrypted.`,
    );
  ctx.ui.message(
    `OUTSCALE ${c.region} at ${c.endpoint} (keys from ${c.origins.keys}${c.x509 ? `, client certificate from ${c.x509.origin}` : ""})`,
  );
  return new OapiClient(c, { log: (line) => ctx.ui.message(line) });
}
