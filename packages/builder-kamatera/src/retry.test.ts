import { describe, expect, it } from "vitest";
import { refusedRequest, retryDelay } from "./retry.js";

describe("retryDelay", () => {
  it("backs off exponentially, bounded by the attempts", () => {
    const f = { status: 502 };
    expect([1, 2, 3, 4, 5, 6].map((a) => retryDelay(f, a, 8, "idempotent"))).toEqual([
      500, 1000, 2000, 4000, 8000, 8000,
    ]);
    expect(retryDelay(f, 5, 5, "idempotent")).toBeUndefined();
  });
  it("429 is retried for every call, with Retry-After when given", () => {
    expect(retryDelay({ status: 429, retryAfterMs: 3000 }, 1, 3, "once")).toBe(3000);
    expect(retryDelay({ status: 429 }, 2, 3, "once")).toBe(1000);
    expect(retryDelay({ status: 429, retryAfterMs: 3_600_000 }, 1, 3, "idempotent")).toBe(60_000);
  });
  it("5xx and transient network errors only for calls that may be repeated", () => {
    expect(retryDelay({ status: 503 }, 1, 3, "once")).toBeUndefined();
    expect(retryDelay({ network: true, transient: true }, 1, 3, "once")).toBeUndefined();
    expect(retryDelay({ network: true, transient: true }, 1, 3, "idempotent")).toBe(500);
    expect(retryDelay({ network: true, transient: false }, 1, 3, "idempotent")).toBeUndefined();
  });
  it("not the proxy's 500s about the request itself, nor 4xx", () => {
    expect(
      retryDelay({ status: 500, message: "No servers found (name='x')" }, 1, 5, "idempotent"),
    ).toBeUndefined();
    expect(
      retryDelay({ status: 500, message: "Failed to run command method (createServer)" }, 1, 5, "idempotent"),
    ).toBeUndefined();
    expect(retryDelay({ status: 500, message: "Internal Server Error" }, 1, 5, "idempotent")).toBe(500);
    expect(
      retryDelay({ status: 400, message: "missing required flag (name)" }, 1, 5, "idempotent"),
    ).toBeUndefined();
    expect(retryDelay({ status: 401 }, 1, 5, "idempotent")).toBeUndefined();
  });
});

describe("refusedRequest", () => {
  it("4xx and the proxy's 500s about the request: nothing was done; other 5xx: maybe something was", () => {
    expect(refusedRequest(400, "missing required flag (name)")).toBe(true);
    expect(refusedRequest(429, "Too Many Requests")).toBe(true);
    expect(refusedRequest(500, "Failed to run command method (createServer)")).toBe(true);
    expect(refusedRequest(500, "upstream timeout")).toBe(false);
    expect(refusedRequest(502, "Bad Gateway")).toBe(false);
  });
});
