/** What every route module of the PVE double shares: the handler shape and parameter helpers. */
import type http from "node:http";
import type { ParamValue } from "../spec.js";
import type { TaskInfo } from "../tasks.js";
import type { UploadInfo } from "../wire.js";
import type { Auth } from "./access.js";

/** Handles one "METHOD /template" with checked parameters; returns the answer's `data`. */
export type Handler = (
  p: Record<string, ParamValue>,
  auth: Auth,
  ctx: { req: http.IncomingMessage; upload?: UploadInfo },
) => Promise<unknown> | unknown;

export type Handlers = Record<string, Handler>;

export const str = (v: ParamValue | undefined) => (v === undefined || v === null ? undefined : String(v));
export const bool = (v: ParamValue | undefined) => v === true || v === "1" || v === 1;
/** The parameters except `skip` as config strings (booleans as 1/0). */
export const stringParams = (p: Record<string, ParamValue>, skip: string[]) => {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(p))
    if (!skip.includes(k) && v !== undefined && v !== null)
      out[k] = typeof v === "boolean" ? (v ? "1" : "0") : String(v);
  return out;
};
export const upidOf = (t: TaskInfo) => t.upid;
