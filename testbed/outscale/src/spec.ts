/**
 * The contract: spec/oapi.subset.json (OAPI 1.40.1, trimmed by scripts/trim-spec.mjs) compiled
 * with ajv, after turning the OpenAPI 3.0 details into JSON Schema (`nullable`, the formats
 * `byte`/`int64`/`date`/`date-time`). Every request body is checked before a handler sees it;
 * the first problem becomes OUTSCALE's error (unknown parameter, missing parameter, wrong type).
 * Responses can be checked too (the tests do, for every answer of a run).
 */
import fs from "node:fs";
import { fileURLToPath } from "node:url";
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import { fault, type OapiFault } from "./api-error.js";

export const SUBSET_PATH = fileURLToPath(new URL("../spec/oapi.subset.json", import.meta.url));

export interface Subset {
  source: Record<string, string>;
  actions: Record<string, { request: string; response: string; errorStatuses: string[] }>;
  schemas: Record<string, Record<string, unknown>>;
}

export function loadSubset(): Subset {
  return JSON.parse(fs.readFileSync(SUBSET_PATH, "utf8")) as Subset;
}

/** OpenAPI 3.0 → JSON Schema: `nullable: true` widens the type to null. */
function toJsonSchema(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(toJsonSchema);
  if (!v || typeof v !== "object") return v;
  const o: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v))
    o[k] = k === "properties" ? mapValues(x, toJsonSchema) : toJsonSchema(x);
  if (o.nullable === true) {
    delete o.nullable;
    if (typeof o.type === "string") o.type = [o.type, "null"];
  }
  return o;
}
const mapValues = (v: unknown, f: (x: unknown) => unknown) =>
  Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, f(x)]));

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export interface Checker {
  actions: ReadonlySet<string>;
  /** The fault for a request body that breaks the contract, or undefined. */
  request(action: string, body: unknown): OapiFault | undefined;
  /** The schema errors of a response (for tests), as readable lines. */
  response(action: string, body: unknown): string[];
}

export function createChecker(subset: Subset = loadSubset()): Checker {
  const ajv = new Ajv({ strict: false, allErrors: false, validateFormats: true });
  ajv.addFormat("byte", BASE64);
  ajv.addFormat("int64", { type: "number", validate: (n: number) => Number.isInteger(n) });
  ajv.addFormat("date", /^\d{4}-\d{2}-\d{2}$/);
  ajv.addFormat("date-time", /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$/);
  ajv.addSchema({ $id: "oapi", components: { schemas: toJsonSchema(subset.schemas) } });
  const cache = new Map<string, ValidateFunction>();
  const compiled = (name: string) => {
    let v = cache.get(name);
    if (!v) {
      v = ajv.compile({ $ref: `oapi#/components/schemas/${name}` });
      cache.set(name, v);
    }
    return v;
  };
  const actions = new Set(Object.keys(subset.actions));
  return {
    actions,
    request(action, body) {
      const a = subset.actions[action];
      if (!a) return fault.unknownAction(action);
      const v = compiled(a.request);
      if (v(body)) return undefined;
      return faultOf(v.errors?.[0]);
    },
    response(action, body) {
      const a = subset.actions[action];
      if (!a) return [`no action ${action}`];
      const v = compiled(a.response);
      return v(body) ? [] : (v.errors ?? []).map((e) => `${e.instancePath || "/"} ${e.message}`);
    },
  };
}

/** A JSON pointer as OUTSCALE names a nested parameter: Filters.ImageIds[0]. */
const paramPath = (pointer: string, extra?: string) =>
  [
    ...pointer
      .split("/")
      .slice(1)
      .map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p}`)),
    ...(extra ? [`.${extra}`] : []),
  ]
    .join("")
    .replace(/^\./, "");

function faultOf(e: ErrorObject | undefined): OapiFault {
  if (!e) return fault.badValue("The request does not match the API.");
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case "additionalProperties":
      return fault.unknownParameter(paramPath(e.instancePath, String(p.additionalProperty)));
    case "required":
      return fault.missingParameter(paramPath(e.instancePath, String(p.missingProperty)));
    case "type":
      return fault.badValue(
        `The parameter '${paramPath(e.instancePath) || "(body)"}' must be of type ${String(p.type)}.`,
      );
    case "enum":
      return fault.badValue(
        `The parameter '${paramPath(e.instancePath)}' must be one of ${(p.allowedValues as unknown[]).join(", ")}.`,
      );
    case "format":
      return fault.badValue(
        `The parameter '${paramPath(e.instancePath)}' is not a valid ${String(p.format)}.`,
      );
    default:
      return fault.badValue(`The parameter '${paramPath(e.instancePath)}' ${e.message ?? "is invalid"}.`);
  }
}
