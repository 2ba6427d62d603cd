/**
 * Access control of the PVE double: tickets with CSRF tokens, API tokens, and privilege checks
 * as RPCEnvironment evaluates the schema's permission checks; POST /access/ticket.
 */
import crypto from "node:crypto";
import type http from "node:http";
import { ApiError, permError } from "../api-error.js";
import type { MethodInfo, ParamValue, PermCheck } from "../spec.js";
import type { Handlers } from "./common.js";

/** "all" (every privilege everywhere, like root@pam), a list valid on every path, or per ACL path. */
export type Privileges = "all" | string[] | Record<string, string[]>;

export interface UserDef {
  password: string;
  privileges?: Privileges;
}

export interface TokenDef {
  /** The token's secret (a UUID on real PVE). */
  secret: string;
  privileges?: Privileges;
}

export interface Auth {
  user: string; // user@realm or user@realm!token
  privileges: Privileges;
  viaTicket: boolean;
}

const AUTH_FAIL = "authentication failure";

export const hasPriv = (privs: Privileges, aclPath: string, priv: string): boolean => {
  if (privs === "all") return true;
  if (Array.isArray(privs)) return privs.includes(priv);
  // ACL paths propagate to everything below them
  for (const [p, list] of Object.entries(privs)) {
    const base = p === "/" ? "/" : p.replace(/\/+$/, "");
    if ((aclPath === base || base === "/" || aclPath.startsWith(`${base}/`)) && list.includes(priv))
      return true;
  }
  return false;
};

/** Evaluates a PVE permission check array; throws 403 like RPCEnvironment does. */
const checkPerm = (
  auth: Auth,
  check: PermCheck,
  params: Record<string, ParamValue>,
  noerr: boolean,
): boolean => {
  const [kind, ...rest] = check as [string, ...unknown[]];
  if (kind === "and") return rest.every((c) => checkPerm(auth, c as PermCheck, params, noerr));
  if (kind === "or") return rest.some((c) => checkPerm(auth, c as PermCheck, params, true));
  if (kind === "perm") {
    const [tmpl, privs, ...flags] = rest as [string, string[], ...unknown[]];
    const fl: Record<string, unknown> = {};
    for (let i = 0; i + 1 < flags.length; i += 2) fl[String(flags[i])] = flags[i + 1];
    if (fl.require_param && params[String(fl.require_param)] === undefined) return false;
    const aclPath = tmpl.replace(/\{([^}]+)\}/g, (_m, n: string) => String(params[n] ?? ""));
    const ok = fl.any ? privs.some((p) => hasPriv(auth.privileges, aclPath, p)) : undefined;
    if (fl.any) {
      if (!ok && !noerr) throw permError(`${aclPath}, ${privs.join("|")}`);
      return !!ok;
    }
    for (const p of privs) {
      if (!hasPriv(auth.privileges, aclPath, p)) {
        if (noerr) return false;
        throw permError(`${aclPath}, ${p}`);
      }
    }
    return true;
  }
  return true; // userid-param etc.: not modelled
};

/** Checks not written as `check` in the schema (only described): PVE's code does them. */
const EXTRA_CHECKS: Record<string, PermCheck> = {
  "POST /nodes/{node}/qemu": [
    "or",
    ["perm", "/vms/{vmid}", ["VM.Allocate"]],
    ["perm", "/pool/{pool}", ["VM.Allocate"], "require_param", "pool"],
  ],
  "DELETE /nodes/{node}/storage/{storage}/content/{volume}": [
    "perm",
    "/storage/{storage}",
    ["Datastore.Allocate"],
  ],
};

/** Throws 403 unless `auth` passes the method's permission check. */
export const authorize = (
  auth: Auth,
  method: string,
  template: string,
  info: MethodInfo,
  params: Record<string, ParamValue>,
) => {
  const check = info.permissions?.check ?? EXTRA_CHECKS[`${method} ${template}`];
  if (!check) return;
  const simple = (check as unknown[])[0] === "perm";
  if (simple) checkPerm(auth, check, params, false);
  else if (!checkPerm(auth, check, params, true)) throw permError();
};

/** Whether a listing shows VM `vmid` to `auth` (VM.Audit). */
export const filterAudit = (auth: Auth, vmid: number) => hasPriv(auth.privileges, `/vms/${vmid}`, "VM.Audit");

/** Tickets signed with a secret of this double, request authentication and the ticket route. */
export function createAccess(users: Record<string, UserDef>, tokens: Record<string, TokenDef>) {
  const secret = crypto.randomBytes(32);
  const sign = (data: string) =>
    crypto.createHmac("sha256", secret).update(data).digest("base64").replace(/=+$/, "");
  const makeTicket = (user: string) => {
    const plain = `PVE:${user}:${Math.floor(Date.now() / 1000)
      .toString(16)
      .toUpperCase()}`;
    return `${plain}::${sign(plain)}`;
  };
  const verifyTicket = (ticket: string): string | undefined => {
    const m = /^(PVE:([^:]+):([0-9A-F]{8}))::(.+)$/.exec(ticket);
    if (!m || sign(m[1] as string) !== m[4]) return undefined;
    const age = Date.now() / 1000 - Number.parseInt(m[3] as string, 16);
    if (age > 7200 || age < -300) return undefined;
    return users[m[2] as string] ? (m[2] as string) : undefined;
  };
  const makeCsrf = (user: string) => {
    const ts = Math.floor(Date.now() / 1000)
      .toString(16)
      .toUpperCase();
    return `${ts}:${sign(`${ts}:${user}`)}`;
  };
  const verifyCsrf = (user: string, token: string | undefined) => {
    const m = /^([0-9A-F]{8}):(.+)$/.exec(token ?? "");
    return !!m && sign(`${m[1]}:${user}`) === m[2];
  };

  /** Who sent the request (API token or ticket cookie, CSRF token on writes); throws 401. */
  const authenticate = (req: http.IncomingMessage, method: string, isUpload: boolean): Auth => {
    const authz = req.headers.authorization;
    if (authz?.startsWith("PVEAPIToken")) {
      const m = /^PVEAPIToken[= ]([^!\s]+@[^!\s]+)!([^=\s]+)[=:](\S+)$/.exec(authz);
      if (!m) throw new ApiError(401, "invalid token value!");
      const full = `${m[1]}!${m[2]}`;
      const t = tokens[full];
      if (!t || t.secret !== m[3]) throw new ApiError(401, "invalid token value!");
      return { user: full, privileges: t.privileges ?? [], viaTicket: false };
    }
    const cookie = req.headers.cookie ?? "";
    const cm = /(?:^|;\s*)PVEAuthCookie=([^;]*)/.exec(cookie);
    if (!cm) throw new ApiError(401, "No ticket");
    const user = verifyTicket(decodeURIComponent(cm[1] as string));
    if (!user) throw new ApiError(401, "permission denied - invalid PVE ticket");
    if (method !== "GET" && !isUpload) {
      const csrf = req.headers.csrfpreventiontoken;
      if (!verifyCsrf(user, Array.isArray(csrf) ? csrf[0] : csrf))
        throw new ApiError(401, "Permission denied - invalid csrf token");
    }
    return { user, privileges: users[user]?.privileges ?? [], viaTicket: true };
  };

  const routes: Handlers = {
    "POST /access/ticket": (p) => {
      let username = String(p.username);
      if (p.realm !== undefined && !username.includes("@")) username = `${username}@${p.realm}`;
      const password = String(p.password);
      const u = users[username];
      const ok =
        u &&
        (u.password === password || (password.startsWith("PVE:") && verifyTicket(password) === username));
      if (!ok) throw new ApiError(401, AUTH_FAIL);
      return {
        username,
        ticket: makeTicket(username),
        CSRFPreventionToken: makeCsrf(username),
        cap: {},
      };
    },
  };

  return { authenticate, routes };
}
