import { describe, expect, it } from "vitest";
import { durationOr, parseDuration } from "./duration.js";

describe("parseDuration", () => {
  it.each([
    ["5m", 300_000],
    ["30s", 30_000],
    ["1h30m", 5_400_000],
    ["1.5s", 1500],
    ["300ms", 300],
    ["2h45m10s", 9_910_000],
    ["1500us", 1.5],
    ["-1s", -1000],
    ["0", 0],
    [" 10s ", 10_000],
  ])("%s → %d ms", (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  it("takes numbers as milliseconds", () => {
    expect(parseDuration(1234)).toBe(1234);
  });

  it.each(["", "5", "10 s", "5x", "m", "1h-5m", "abc", "1.s2"])(
    "rejects %j with a helpful message",
    (input) => {
      expect(() => parseDuration(input)).toThrow(/invalid duration .*(unit|number)/);
    },
  );

  it("rejects non-finite numbers", () => {
    expect(() => parseDuration(Number.NaN)).toThrow(/finite/);
  });

  it("durationOr falls back only when undefined", () => {
    expect(durationOr(undefined, 42)).toBe(42);
    expect(durationOr("1s", 42)).toBe(1000);
  });
});
