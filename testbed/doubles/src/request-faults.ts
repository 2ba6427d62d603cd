/**
 * A request fault of an API double: requests whose path (below the API's root) and method match
 * are answered with an error status, or never answered.
 */
export interface FaultSpec {
  /** Path (a string matches exactly or as a prefix) or a pattern. */
  path: RegExp | string;
  method?: string;
  /** The status to answer (500, 502, 429 …); with `hang` the request is never answered. */
  status?: number;
  message?: string;
  /** Extra headers, e.g. { "Retry-After": "1" }. */
  headers?: Record<string, string>;
  /** How many requests it hits (default: all). */
  times?: number;
  /** Never answer (the client times out). */
  hang?: boolean;
}

/** Whether a fault (or hook) for `path` and `method` hits a `method` request to `rel`. */
export function hitsRequest(
  match: { path: RegExp | string; method?: string },
  rel: string,
  method: string,
): boolean {
  const pathOk =
    typeof match.path === "string" ? rel === match.path || rel.startsWith(match.path) : match.path.test(rel);
  return pathOk && (!match.method || match.method.toUpperCase() === method);
}
