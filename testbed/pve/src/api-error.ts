/** Errors the PVE double answers with: an HTTP status, PVE's message, parameter errors. */
import type { Errors } from "./spec.js";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors?: Errors,
  ) {
    super(message);
  }
}

export const paramError = (errors: Errors) => new ApiError(400, "Parameter verification failed.", errors);
export const permError = (what?: string) =>
  new ApiError(403, `Permission check failed${what ? ` (${what})` : ""}`);

/** Reason phrases pve-http-server uses where Node's differ or have none. */
export const STATUS_TEXT: Record<number, string> = {
  429: "Too Many Requests",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  595: "Connection refused",
  596: "Connection timed out",
};
