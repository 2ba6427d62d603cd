/**
 * The contract: the trimmed PVE API schema (spec/pve-api.subset.json, made by
 * scripts/trim-spec.mjs) and a validator that reproduces PVE::JSONSchema's checks and
 * error messages (pve-common src/PVE/JSONSchema.pm: check_object / check_prop /
 * check_type / check_format / parse_property_string).
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export interface Schema {
  type?: string | string[];
  optional?: number | boolean;
  enum?: string[];
  format?: string | { $ref: string } | Record<string, Schema>;
  pattern?: string;
  minimum?: number | string;
  maximum?: number | string;
  minLength?: number;
  maxLength?: number;
  default?: unknown;
  default_key?: number;
  alias?: string;
  keyAlias?: string;
  requires?: string;
  properties?: Record<string, Schema>;
  additionalProperties?: number | boolean | Schema;
  items?: Schema;
  "x-n-max"?: number;
  [k: string]: unknown;
}

export interface MethodInfo {
  name: string;
  allowtoken?: number;
  protected?: number;
  proxyto?: string;
  permissions?: { user?: string; check?: PermCheck };
  parameters: Schema;
  returns?: Schema;
}

export type PermCheck = unknown[];

export interface ApiSubset {
  source: Record<string, string>;
  formats: Record<string, Record<string, Schema>>;
  paths: Record<string, Record<string, MethodInfo>>;
}

const here = path.dirname(fileURLToPath(import.meta.url));
export const SUBSET_PATH: string = path.join(path.dirname(here), "spec", "pve-api.subset.json");

let cached: ApiSubset | undefined;
export function loadSubset(): ApiSubset {
  cached ??= JSON.parse(fs.readFileSync(SUBSET_PATH, "utf8")) as ApiSubset;
  return cached;
}

export interface Route {
  template: string;
  regex: RegExp;
  names: string[];
  methods: Record<string, MethodInfo>;
}

/** Routes from the subset, most specific (longest literal) first. */
export function buildRoutes(spec: ApiSubset): Route[] {
  const routes: Route[] = [];
  for (const [template, methods] of Object.entries(spec.paths)) {
    const names: string[] = [];
    const re = template.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\{([^}]+)\}/g, (_m, n: string) => {
      names.push(n);
      return "([^/]+)";
    });
    routes.push({ template, regex: new RegExp(`^${re}/?$`), names, methods });
  }
  return routes.sort((a, b) => b.template.length - a.template.length);
}

export function matchRoute(
  routes: Route[],
  relPath: string,
): { route: Route; params: Record<string, string> } | undefined {
  for (const route of routes) {
    const m = route.regex.exec(relPath);
    if (!m) continue;
    const params: Record<string, string> = {};
    route.names.forEach((n, i) => {
      params[n] = decodeURIComponent(m[i + 1] ?? "");
    });
    return { route, params };
  }
  return undefined;
}

export type Errors = Record<string, string>;

function addError(errors: Errors, p: string | undefined, msg: string): void {
  const key = p || "_root";
  errors[key] = errors[key] ? `${errors[key]}\\n${msg}` : msg;
}

/** A value as PVE sees it: form parameters are strings, JSON bodies may carry numbers/booleans. */
export type ParamValue = string | number | boolean | null | ParamValue[] | { [k: string]: ParamValue };

const isNumber = (v: string) => /^[+-]?(\d+\.\d+|\d+\.|\.\d+|\d+)([eE][+-]?\d+)?$/.test(v);
const isInteger = (v: string) => /^[+-]?\d+$/.test(v);

/** Named formats (PVE::JSONSchema::register_format and friends) the subset uses. */
const NAMED_FORMATS: Record<string, (v: string) => void> = {
  "pve-vmid": (v) => {
    if (!/^[1-9][0-9]{2,8}$/.test(v)) throw new Error("value does not look like a valid VM ID\n");
  },
  "pve-node": (v) => {
    if (!/^([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)$/.test(v))
      throw new Error("value does not look like a valid node name\n");
  },
  "pve-storage-id": (v) => {
    if (!/^[a-z][a-z0-9\-_.]*[a-z0-9]$/i.test(v))
      throw new Error(`storage ID '${v}' contains illegal characters\n`);
  },
  "pve-configid": (v) => {
    if (!/^[a-z][a-z0-9_-]+$/i.test(v)) throw new Error(`invalid configuration ID '${v}'\n`);
  },
  "pve-poolid": (v) => {
    if (!/^[A-Za-z0-9_][A-Za-z0-9_\-/]*$/.test(v) || v.length > 64)
      throw new Error(`pool name '${v}' contains illegal characters\n`);
  },
  "dns-name": (v) => {
    const n = "([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)";
    if (!new RegExp(`^(${n}\\.)*${n}$`).test(v))
      throw new Error("value does not look like a valid DNS name\n");
  },
  "pve-tag": (v) => {
    if (!/^[a-z0-9_][a-z0-9_\-+.]*$/i.test(v)) throw new Error("invalid characters in tag\n");
  },
  "pve-tag-list": (v) => {
    for (const t of v.split(/[;, ]/).filter(Boolean)) NAMED_FORMATS["pve-tag"]?.(t);
  },
  "mac-addr": (v) => {
    if (!/^[a-f0-9][02468ace](?::[a-f0-9]{2}){5}$/i.test(v))
      throw new Error("value does not look like a valid unicast MAC address\n");
  },
  "pve-bridge-id": (v) => {
    if (!/^[-_.\w\d]+$/.test(v)) throw new Error(`invalid bridge ID '${v}'\n`);
  },
  "pve-storage-content": (v) => {
    if (!/^(images|rootdir|vztmpl|iso|backup|snippets|import|none)$/.test(v))
      throw new Error(`invalid content type '${v}'\n`);
  },
  "pve-storage-content-list": (v) => {
    for (const t of v.split(/[;, ]/).filter(Boolean)) NAMED_FORMATS["pve-storage-content"]?.(t);
  },
  urlencoded: (v) => {
    if (!/^[-%a-zA-Z0-9_.!~*'()]*$/.test(v)) throw new Error(`invalid urlencoded string: ${v}\n`);
  },
  "pve-qm-bootdisk": (v) => {
    if (!/^(ide|sata|scsi|virtio)\d+$/.test(v)) throw new Error(`invalid drive name '${v}'\n`);
  },
};

export interface Validator {
  /** Checks one method's parameters; returns PVE-style errors (empty when valid). */
  validate(info: MethodInfo, params: Record<string, ParamValue>): Errors;
  /** The schema of a parameter, resolving indexed names like scsi0 → scsi[n]. */
  propertySchema(info: MethodInfo, name: string): Schema | undefined;
}

export function createValidator(spec: ApiSubset): Validator {
  const resolveFormat = (f: Schema["format"]): Record<string, Schema> | string | undefined => {
    if (!f) return undefined;
    if (typeof f === "string") return f;
    if (typeof (f as { $ref?: unknown }).$ref === "string") return spec.formats[(f as { $ref: string }).$ref];
    return f as Record<string, Schema>;
  };

  const propertySchema = (props: Record<string, Schema> | undefined, name: string): Schema | undefined => {
    if (!props) return undefined;
    const direct = props[name];
    if (direct) return direct;
    const m = /^([a-z_]+?)(\d+)$/.exec(name);
    if (!m) return undefined;
    const idx = props[`${m[1]}[n]`];
    if (!idx) return undefined;
    const n = Number(m[2]);
    if (m[2] !== String(n) || n > (idx["x-n-max"] ?? 0)) return undefined;
    return idx;
  };

  function checkFormat(format: NonNullable<Schema["format"]>, value: string, p: string): void {
    const f = resolveFormat(format);
    if (f === undefined) return;
    if (typeof f === "object") {
      parsePropertyString(f, value, p);
      return;
    }
    if (f === "regex") return;
    const mm = /^(.*?)(?:-(list|opt))?$/.exec(f);
    const base = mm?.[1] ?? f;
    const kind = mm?.[2];
    const fn = NAMED_FORMATS[f] ?? NAMED_FORMATS[base];
    if (!fn) return; // formats the double does not model are accepted
    if (NAMED_FORMATS[f]) {
      fn(value);
      return;
    }
    if (kind === "list") for (const v of value.split(/[;, \0]/).filter(Boolean)) fn(v);
    else if (kind === "opt") {
      if (value) fn(value);
    } else fn(value);
  }

  class FormatError extends Error {
    constructor(readonly errors: Errors) {
      super("format error\n");
    }
  }

  function parsePropertyString(
    format: Record<string, Schema>,
    data: string,
    p: string,
  ): Record<string, string> {
    const res: Record<string, string> = {};
    let defaultKey: string | undefined;
    for (const part of data.split(",")) {
      if (/^\s*$/.test(part)) continue;
      const kv = /^([^=]+)=(.+)$/s.exec(part);
      if (kv) {
        let k = kv[1] as string;
        let v = kv[2] as string;
        if (res[k] !== undefined) throw new Error(`duplicate key in comma-separated list property: ${k}\n`);
        let schema = format[k];
        if (schema?.alias) {
          if (schema.keyAlias) {
            if (res[schema.keyAlias] !== undefined)
              throw new Error(`key alias '${schema.keyAlias}' is already defined\n`);
            res[schema.keyAlias] = k;
          }
          k = schema.alias;
          schema = format[k];
        }
        if (!schema) throw new Error(`invalid key in comma-separated list property: ${k}\n`);
        if (schema.type === "boolean") {
          if (/^(1|on|yes|true)$/i.test(v)) v = "1";
          else if (/^(0|off|no|false)$/i.test(v)) v = "0";
        }
        res[k] = v;
      } else if (!part.includes("=")) {
        if (defaultKey) throw new Error(`duplicate key in comma-separated list property: ${defaultKey}\n`);
        for (const [key, s] of Object.entries(format)) {
          if (s.default_key) {
            defaultKey = key;
            if (!res[key]) {
              res[key] = part;
              break;
            }
            throw new Error(`duplicate key in comma-separated list property: ${key}\n`);
          }
        }
        if (!defaultKey) throw new Error("value without key, but schema does not define a default key\n");
      } else {
        throw new Error("missing key in comma-separated list property\n");
      }
    }
    const errors: Errors = {};
    checkObject(p, format, res, 0, errors, false);
    if (Object.keys(errors).length) throw new FormatError(errors);
    return res;
  }

  function checkType(p: string, type: Schema["type"], value: ParamValue, errors: Errors): boolean {
    if (!type) return true;
    if (Array.isArray(type)) {
      for (const t of type) {
        const tmp: Errors = {};
        checkType(p, t, value, tmp);
        if (!Object.keys(tmp).length) return true;
      }
      addError(errors, p, `type check ('${type.join("|")}') failed`);
      return false;
    }
    if (type === "any") return true;
    if (type === "null") {
      if (value !== null) {
        addError(errors, p, `type check ('${type}') failed - value is not null`);
        return false;
      }
      return true;
    }
    if (type === "array") {
      if (!Array.isArray(value)) {
        addError(errors, p, `type check ('${type}') failed`);
        return false;
      }
      return true;
    }
    if (type === "object") {
      if (!value || typeof value !== "object" || Array.isArray(value)) {
        addError(errors, p, `type check ('${type}') failed`);
        return false;
      }
      return true;
    }
    if (value !== null && typeof value === "object") {
      addError(errors, p, `type check ('${type}') failed - got ${Array.isArray(value) ? "ARRAY" : "HASH"}`);
      return false;
    }
    if (typeof value === "boolean") {
      // JSON true/false are JSON::PP::Boolean objects in Perl
      if (type === "boolean") return true;
      addError(errors, p, `type check ('${type}') failed - got JSON::PP::Boolean`);
      return false;
    }
    const s = String(value);
    if (type === "boolean") {
      if (s === "1" || s === "0") return true;
      addError(errors, p, `type check ('${type}') failed - got '${s}'`);
      return false;
    }
    if (type === "integer" && !isInteger(s)) {
      addError(errors, p, `type check ('${type}') failed - got '${s}'`);
      return false;
    }
    if (type === "number" && !isNumber(s)) {
      addError(errors, p, `type check ('${type}') failed - got '${s}'`);
      return false;
    }
    return true;
  }

  function checkProp(value: ParamValue | undefined, schema: Schema, p: string, errors: Errors): void {
    if (value === undefined || value === null) {
      if (schema.type === "null") return;
      if (!schema.optional && !schema.alias && !schema.group)
        addError(errors, p, "property is missing and it is not optional");
      return;
    }
    if (!checkType(p, schema.type, value, errors)) return;
    if (typeof value === "object") {
      if (Array.isArray(value)) {
        if (schema.items)
          for (const [i, el] of value.entries()) checkProp(el, schema.items, `${p}[${i}]`, errors);
        return;
      }
      if (schema.properties || schema.additionalProperties)
        checkObject(p, schema.properties ?? {}, value, schema.additionalProperties, errors, false);
      return;
    }
    const s = String(value);
    if (schema.format) {
      try {
        checkFormat(schema.format, s, p);
      } catch (e) {
        let msg = (e as Error).message;
        if (e instanceof FormatError) for (const [k, v] of Object.entries(e.errors)) msg += `${k}: ${v}\n`;
        addError(errors, p, `invalid format - ${msg}`);
        return;
      }
    }
    if (schema.pattern && !new RegExp(`^(?:${schema.pattern})$`).test(s)) {
      addError(errors, p, "value does not match the regex pattern");
      return;
    }
    if (schema.maxLength !== undefined && [...s].length > schema.maxLength) {
      addError(errors, p, `value may only be ${schema.maxLength} characters long`);
      return;
    }
    if (schema.minLength !== undefined && [...s].length < schema.minLength) {
      addError(errors, p, `value must be at least ${schema.minLength} characters long`);
      return;
    }
    if (isNumber(s)) {
      if (schema.maximum !== undefined && Number(s) > Number(schema.maximum)) {
        addError(errors, p, `value must have a maximum value of ${schema.maximum}`);
        return;
      }
      if (schema.minimum !== undefined && Number(s) < Number(schema.minimum)) {
        addError(errors, p, `value must have a minimum value of ${schema.minimum}`);
        return;
      }
    }
    if (schema.enum && !schema.enum.includes(s)) {
      addError(
        errors,
        p,
        `value '${s}' does not have a value in the enumeration '${schema.enum.join(", ")}'`,
      );
    }
  }

  function checkObject(
    p: string,
    props: Record<string, Schema>,
    value: Record<string, ParamValue>,
    additional: Schema["additionalProperties"],
    errors: Errors,
    indexed = true,
  ): void {
    for (const [k, s] of Object.entries(props)) {
      if (k.endsWith("[n]")) continue; // indexed properties are all optional
      checkProp(value[k], s, p ? `${p}.${k}` : k, errors);
    }
    for (const k of Object.keys(value)) {
      const np = p ? `${p}.${k}` : k;
      const sub = indexed ? propertySchema(props, k) : props[k];
      if (sub) {
        if (k in props) {
          if (sub.requires && value[sub.requires] === undefined)
            addError(
              errors,
              p ? `${p}.${sub.requires}` : sub.requires,
              `missing property - '${np}' requires this property`,
            );
        } else {
          checkProp(value[k], sub, np, errors); // indexed (scsi0 → scsi[n])
        }
        continue;
      }
      if (additional !== undefined && !additional) {
        addError(
          errors,
          np,
          "property is not defined in schema and the schema does not allow additional properties",
        );
        continue;
      }
      if (additional && typeof additional === "object") checkProp(value[k], additional, np, errors);
    }
  }

  return {
    validate(info, params) {
      const errors: Errors = {};
      const schema = info.parameters;
      checkObject("", schema.properties ?? {}, params, schema.additionalProperties ?? 1, errors);
      return errors;
    },
    propertySchema(info, name) {
      return propertySchema(info.parameters.properties, name);
    },
  };
}

/** Parses a property string (e.g. a drive "local:32,format=qcow2") into key/values, leniently. */
export function splitPropertyString(value: string, defaultKey: string): Record<string, string> {
  const res: Record<string, string> = {};
  for (const part of value.split(",")) {
    if (!part.trim()) continue;
    const i = part.indexOf("=");
    if (i < 0) res[defaultKey] = part;
    else res[part.slice(0, i)] = part.slice(i + 1);
  }
  return res;
}
