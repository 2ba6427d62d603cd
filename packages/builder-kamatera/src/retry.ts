/**
 * When a failed API call is tried again, and after how long: bounded attempts with exponential
 * backoff (0.5 s doubling, at most 8 s; a 429's Retry-After wins, at most 60 s).
 *
 * - A call that may be repeated (`idempotent`: reads, queue polls, terminate) is retried on 429,
 *   5xx and transient network errors — but not on a 500 whose message is one of the proxy's
 *   answers about the request itself (a missing flag, no such server), which will not change.
 * - Any other call (`once`: create, clone, power) only on 429: the API said it did nothing.
 *   After a 5xx or a dropped connection the server may exist; cleanup finds it by name.
 */
export interface Failure {
  status?: number;
  message?: string;
  retryAfterMs?: number;
  network?: boolean;
  /** For network failures: may pass (reset, timeout) rather than will not (unknown host). */
  transient?: boolean;
}

/** The proxy's 400/500 answers about the request itself: the same request gets the same answer. */
const PERMANENT_500 =
  /^(missing required flag|invalid flag value|invalid item|duplicate item|No servers found|Too many matching servers|No external IP|Please specify|Missing server|Failed to run command method)/;

/** An answer that refuses the request itself (4xx, or one of the proxy's 500s about it): nothing was done. */
export function refusedRequest(status: number, message: string): boolean {
  return (status >= 400 && status < 500) || (status === 500 && PERMANENT_500.test(message));
}

/** The delay before attempt `attempt + 1`, or undefined when the failure is final. */
export function retryDelay(
  f: Failure,
  attempt: number,
  attempts: number,
  kind: "idempotent" | "once",
): number | undefined {
  if (attempt >= attempts) return undefined;
  const backoff = Math.min(8000, 500 * 2 ** (attempt - 1));
  if (f.status === 429) return Math.min(60_000, f.retryAfterMs ?? backoff);
  if (kind === "once") return undefined;
  if (f.network) return f.transient ? backoff : undefined;
  if (f.status !== undefined && f.status >= 500) {
    if (f.status === 500 && f.message && PERMANENT_500.test(f.message)) return undefined;
    return f.retryAfterMs !== undefined ? Math.min(60_000, f.retryAfterMs) : backoff;
  }
  return undefined;
}
