/**
 * The Kamatera contract (spec/kamatera-contract.json) as code: find the endpoint of a request,
 * check its headers and flags the way cloudcli-server does (missing/invalid flag errors, the
 * `k=v,k=v k=v` item lists with ids 0–3, enums, patterns, `name` or `id`), and check an answer
 * against the endpoint's answer shape. The double runs every request through checkRequest and
 * every answer through checkAnswer.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { ApiError } from "./wire.js";

export const CONTRACT_PATH = fileURLToPath(new URL("../spec/kamatera-contract.json", import.meta.url));

export type Shape =
  | "string"
  | "number"
  | "integer"
  | "boolean"
  | "null"
  | "any"
  | { ref: string }
  | { array: Shape }
  | { map: Shape }
  | { oneOf: Shape[] }
  | { enum: unknown[] }
  | { object: Record<string, Shape>; optional?: string[]; additional?: boolean };

export interface FieldSpec {
  type: "string" | "string|number" | "bool" | "items";
  required?: boolean;
  requiredUnless?: string;
  requires?: string[];
  enum?: string[];
  pattern?: string;
  onInvalid?: "flag" | "method";
  secret?: boolean;
  ignored?: boolean;
  default?: string;
  generate?: string;
  sshPublicKey?: boolean;
  password?: { minLength: number; maxLength: number; atLeastOneOf: string[]; extraAllowed: string };
  items?: { keys: string[]; required: string[]; max: number };
}

export interface Endpoint {
  id: string;
  method: "GET" | "POST";
  path: string;
  cliMethod?: string;
  select?: "name-or-id";
  when?: Record<string, string | null>;
  fields: Record<string, FieldSpec>;
  answer: Shape;
}

export interface Contract {
  endpoints: Endpoint[];
  shapes: Record<string, Shape & { note?: string; source?: string }>;
  errors: Record<string, unknown>;
}

let cached: Contract | undefined;
export function loadContract(): Contract {
  cached ??= JSON.parse(readFileSync(CONTRACT_PATH, "utf8")) as Contract;
  return cached;
}

/** A flag value after the check: strings, booleans, or parsed item lists. */
export type FlagValue = string | boolean | Array<Record<string, string>>;

export interface CheckedRequest {
  endpoint: Endpoint;
  /** Flags the endpoint reads, with defaults applied (ignored flags dropped). */
  flags: Record<string, FlagValue>;
}

export interface IncomingRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  query: Record<string, string>;
  /** The parsed JSON body (an object), or undefined when there was none. */
  body: Record<string, unknown> | undefined;
}

const header = (h: IncomingRequest["headers"], name: string): string | undefined => {
  const v = h[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
};

/** The endpoints at a path, for the 404 answer and for the method check. */
export function endpointsAt(c: Contract, path: string): Endpoint[] {
  return c.endpoints.filter((e) => e.path === path);
}

/** The endpoint a request is for: path, method, and for GET /service/server the query's selectors. */
export function findEndpoint(c: Contract, method: string, path: string, input: Record<string, unknown>) {
  for (const e of endpointsAt(c, path)) {
    if (e.method !== method) continue;
    const when = e.when ?? {};
    const ok = Object.entries(when).every(([k, v]) =>
      v === null ? input[k] === undefined : String(input[k] ?? "") === v,
    );
    if (ok) return e;
  }
  return undefined;
}

const isEmpty = (v: unknown) => v === undefined || v === null || v === "";

const invalid = (name: string, value: unknown, spec: FieldSpec, endpoint: Endpoint): ApiError => {
  if (spec.onInvalid === "method")
    return new ApiError(500, `Failed to run command method (${endpoint.cliMethod ?? endpoint.id})`);
  const shown = spec.secret ? "" : `=${typeof value === "string" ? value : JSON.stringify(value)}`;
  return new ApiError(400, `invalid flag value (${name}${shown})`);
};

/**
 * cloudcli-server's item lists: space-separated items of comma-separated k=v; ids 0–3, given
 * or numbered in order into the free ones; at most 4.
 */
export function parseItems(name: string, value: string): Array<Record<string, string>> {
  const byId = new Map<string, Record<string, string>>();
  const withoutId: Array<Record<string, string>> = [];
  for (const item of value.split(" ")) {
    const dict: Record<string, string> = {};
    for (const kv of item.split(",")) {
      const parts = kv.split("=");
      if (parts.length !== 2) throw new ApiError(400, `invalid flag value (${name}=${value})`);
      dict[parts[0] as string] = parts[1] as string;
    }
    if (dict.id !== undefined) {
      if (!/^[0-9]+$/.test(dict.id) || Number(dict.id) > 3)
        throw new ApiError(400, `invalid item id: ${dict.id} (${name}=${value})`);
      if (byId.has(dict.id)) throw new ApiError(400, `duplicate item id: ${dict.id} (${name}=${value})`);
      byId.set(dict.id, dict);
    } else withoutId.push(dict);
  }
  for (const id of ["0", "1", "2", "3"]) {
    if (byId.has(id)) continue;
    const next = withoutId.shift();
    if (next) byId.set(id, { ...next, id });
  }
  if (withoutId.length) throw new ApiError(400, `invalid item ids (${name}=${value})`);
  return [...byId.entries()].sort(([a], [b]) => Number(a) - Number(b)).map(([, v]) => v);
}

const SSH_KEY =
  /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com) [A-Za-z0-9+/]+=*( .*)?$/;

function passwordOk(pw: string, rule: NonNullable<FieldSpec["password"]>): boolean {
  if (pw.length < rule.minLength || pw.length > rule.maxLength) return false;
  const allowed = rule.atLeastOneOf.join("") + rule.extraAllowed;
  if ([...pw].some((ch) => !allowed.includes(ch))) return false;
  return rule.atLeastOneOf.every((set) => [...pw].some((ch) => set.includes(ch)));
}

/**
 * Check a request against the contract. Throws an ApiError with the proxy's status and message
 * (or the double's, for what it refuses beyond the proxy: unknown flags, wrong headers).
 */
export function checkRequest(c: Contract, req: IncomingRequest): CheckedRequest {
  const input: Record<string, unknown> = { ...req.query, ...(req.body ?? {}) };
  const endpoint = findEndpoint(c, req.method, req.path, input);
  if (!endpoint) {
    const at = endpointsAt(c, req.path);
    if (at.length && !at.some((e) => e.method === req.method))
      throw new ApiError(405, `Method ${req.method} not allowed on ${req.path} (use ${at[0]?.method})`);
    throw new ApiError(404, `Not found (${req.method} ${req.path})`);
  }
  const accept = header(req.headers, "accept") ?? "";
  if (!/application\/json|\*\/\*/.test(accept))
    throw new ApiError(400, "contract: send the header Accept: application/json");
  if (req.body !== undefined && !/^application\/json\b/i.test(header(req.headers, "content-type") ?? ""))
    throw new ApiError(400, "contract: a request body must be sent with Content-Type: application/json");

  for (const k of Object.keys(input))
    if (!(k in endpoint.fields)) throw new ApiError(400, `unknown flag (${k})`);

  const flags: Record<string, FlagValue> = {};
  // Missing required flags first, in the contract's order (as the proxy walks its fields).
  for (const [name, spec] of Object.entries(endpoint.fields)) {
    const v = input[name];
    const unlessSet = spec.requiredUnless !== undefined && !isEmpty(input[spec.requiredUnless]);
    if (isEmpty(v) && (spec.required || (spec.requiredUnless !== undefined && !unlessSet)))
      throw new ApiError(400, `missing required flag (${name})`);
    for (const r of spec.requires ?? [])
      if (!isEmpty(v) && isEmpty(input[r])) throw new ApiError(400, `missing required flag (${r})`);
  }
  for (const [name, spec] of Object.entries(endpoint.fields)) {
    let v = input[name];
    if (spec.ignored) continue;
    if (spec.type === "bool") {
      // PHP: $value == "true" — JSON true and "true" count, anything else (also absent) is false.
      flags[name] = v === true || v === "true";
      continue;
    }
    if (isEmpty(v)) {
      if (spec.default === undefined) continue;
      v = spec.default;
    }
    if (spec.type === "items") {
      const text = Array.isArray(v) && v.every((x) => typeof x === "string") ? v.join(" ") : v;
      if (typeof text !== "string") throw invalid(name, v, spec, endpoint);
      const items = parseItems(name, text);
      if (spec.items) {
        for (const it of items) {
          for (const k of Object.keys(it))
            if (!spec.items.keys.includes(k)) throw invalid(name, text, spec, endpoint);
          for (const k of spec.items.required) if (isEmpty(it[k])) throw invalid(name, text, spec, endpoint);
        }
      }
      flags[name] = items;
      continue;
    }
    if (typeof v === "number" && spec.type === "string|number") v = String(v);
    if (typeof v !== "string") throw invalid(name, v, spec, endpoint);
    if (spec.generate !== undefined && v === spec.generate) {
      flags[name] = v;
      continue;
    }
    if (spec.enum && !spec.enum.includes(v)) throw invalid(name, v, spec, endpoint);
    if (spec.pattern && !new RegExp(spec.pattern).test(v)) throw invalid(name, v, spec, endpoint);
    if (spec.password && !passwordOk(v, spec.password)) throw invalid(name, v, spec, endpoint);
    if (spec.sshPublicKey && v !== "" && !v.split("\n").every((l) => !l.trim() || SSH_KEY.test(l.trim())))
      throw new ApiError(400, `invalid flag value (${name}): not an OpenSSH public key line`);
    flags[name] = v;
  }
  if (endpoint.select === "name-or-id") {
    const hasName = !isEmpty(input.name);
    const hasId = !isEmpty(input.id);
    if (hasName && hasId) throw new ApiError(500, "Please specify 'name' or 'id' but not both");
    if (!hasName && !hasId) throw new ApiError(500, "Missing server 'id' / 'name'");
  }
  return { endpoint, flags };
}

/** Problems of `value` against `shape` (empty when it conforms), each with its JSON path. */
export function shapeProblems(value: unknown, shape: Shape, c: Contract, at = "$"): string[] {
  if (typeof shape === "string") {
    const ok =
      shape === "any" ||
      (shape === "null" && value === null) ||
      (shape === "string" && typeof value === "string") ||
      (shape === "number" && typeof value === "number" && Number.isFinite(value)) ||
      (shape === "integer" && Number.isInteger(value)) ||
      (shape === "boolean" && typeof value === "boolean");
    return ok ? [] : [`${at}: expected ${shape}, got ${JSON.stringify(value)}`];
  }
  if ("ref" in shape) {
    const named = c.shapes[shape.ref];
    if (!named) return [`${at}: unknown shape ${shape.ref}`];
    return shapeProblems(value, named, c, at);
  }
  if ("oneOf" in shape) {
    const all = shape.oneOf.map((s) => shapeProblems(value, s, c, at));
    return all.some((p) => p.length === 0)
      ? []
      : [`${at}: matches none of ${shape.oneOf.length} shapes (${all.map((p) => p[0]).join("; ")})`];
  }
  if ("enum" in shape)
    return shape.enum.includes(value)
      ? []
      : [`${at}: ${JSON.stringify(value)} is not one of ${JSON.stringify(shape.enum)}`];
  if ("array" in shape) {
    if (!Array.isArray(value)) return [`${at}: expected an array`];
    return value.flatMap((v, i) => shapeProblems(v, shape.array, c, `${at}[${i}]`));
  }
  if ("map" in shape) {
    if (!value || typeof value !== "object" || Array.isArray(value)) return [`${at}: expected an object`];
    return Object.entries(value).flatMap(([k, v]) => shapeProblems(v, shape.map, c, `${at}.${k}`));
  }
  if (!value || typeof value !== "object" || Array.isArray(value)) return [`${at}: expected an object`];
  const obj = value as Record<string, unknown>;
  const out: string[] = [];
  for (const [k, s] of Object.entries(shape.object)) {
    if (!(k in obj)) {
      if (!shape.optional?.includes(k)) out.push(`${at}.${k}: missing`);
      continue;
    }
    out.push(...shapeProblems(obj[k], s, c, `${at}.${k}`));
  }
  if (!shape.additional)
    for (const k of Object.keys(obj)) if (!(k in shape.object)) out.push(`${at}.${k}: not in the contract`);
  return out;
}

/** Problems of an endpoint's answer against its contract shape. */
export function checkAnswer(c: Contract, endpoint: Endpoint, answer: unknown): string[] {
  return shapeProblems(answer, endpoint.answer, c);
}
