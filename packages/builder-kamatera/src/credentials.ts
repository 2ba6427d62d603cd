/** The API URL and credentials: the options, else the KAMATERA_* environment variables, checked. */
import { errors } from "./errors.js";
import { DEFAULT_API_URL, type KamateraOptions } from "./schema.js";

export interface Credentials {
  url: string;
  clientId: string;
  secret: string;
}

type CredentialOptions = Pick<KamateraOptions, "api_url" | "api_client_id" | "api_secret">;

export function credentials(o: CredentialOptions, env: NodeJS.ProcessEnv = process.env): Credentials {
  const url = o.api_url ?? env.KAMATERA_API_URL ?? DEFAULT_API_URL;
  const clientId = o.api_client_id ?? env.KAMATERA_API_CLIENT_ID;
  const secret = o.api_secret ?? env.KAMATERA_API_SECRET;
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (!parsed || (parsed.protocol !== "https:" && parsed.protocol !== "http:"))
    throw errors.config(
      `api_url ${JSON.stringify(url)} is not an http(s) URL`,
      `Leave it unset for ${DEFAULT_API_URL}.`,
    );
  if (!clientId)
    throw errors.config(
      "api_client_id is required",
      "Set api_client_id or KAMATERA_API_CLIENT_ID (Kamatera console → API → Keys).",
    );
  if (!secret)
    throw errors.config(
      "api_secret is required",
      "Set api_secret (from a sensitive variable) or KAMATERA_API_SECRET (Kamatera console → API → Keys).",
    );
  return { url: url.replace(/\/+$/, ""), clientId, secret };
}
