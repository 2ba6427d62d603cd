/** The API credentials: the options, else Packer's PROXMOX_* environment variables, checked. */
import { errors } from "./errors.js";
import type { CommonOptions } from "./schema.js";

export interface Credentials {
  url: string;
  username: string;
  password?: string;
  token?: string;
}

type CredentialOptions = Pick<CommonOptions, "proxmox_url" | "username" | "password" | "token">;

/** Options, then PROXMOX_* environment variables (as Packer). A token wins over a password. */
export function credentials(o: CredentialOptions, env: NodeJS.ProcessEnv = process.env): Credentials {
  const url = o.proxmox_url ?? env.PROXMOX_URL;
  const username = o.username ?? env.PROXMOX_USERNAME;
  const password = o.password ?? env.PROXMOX_PASSWORD;
  const token = o.token ?? env.PROXMOX_TOKEN;
  if (!url)
    throw errors.config(
      "proxmox_url is required",
      "Set proxmox_url (https://<host>:8006/api2/json) or the PROXMOX_URL environment variable.",
    );
  if (!username)
    throw errors.config(
      "username is required",
      "Set username (e.g. root@pam, or kiln@pve!build for an API token) or PROXMOX_USERNAME.",
    );
  if (!password && !token)
    throw errors.config(
      "a password or an API token is required",
      "Set token (the API token's secret, with username user@realm!tokenid) or password; or PROXMOX_TOKEN / PROXMOX_PASSWORD.",
    );
  if (token && !username.includes("!"))
    throw errors.config(
      `with token, username must name the token as user@realm!tokenid, not ${JSON.stringify(username)}`,
      "Write username as e.g. kiln@pve!build — the token id after the !.",
    );
  if (!token && username.includes("!"))
    throw errors.config(
      `username ${JSON.stringify(username)} names an API token but no token secret is set`,
      "Set token (or PROXMOX_TOKEN) to the token's secret.",
    );
  if (!/^[^@!\s]+@[^@!\s]+(![A-Za-z][A-Za-z0-9._-]*)?$/.test(username))
    throw errors.config(
      `username ${JSON.stringify(username)} has no realm`,
      "Write it as user@realm, e.g. root@pam or kiln@pve.",
    );
  return { url, username, ...(token ? { token } : password ? { password } : {}) };
}
