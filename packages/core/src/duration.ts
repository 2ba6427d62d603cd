import { KilnError } from "./errors.js";

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

// µs and μs (micro sign, Greek mu) written as escapes: the CLI's bundle is ASCII, read without decoding.
const PART = /^([0-9]*\.?[0-9]*)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)/;

/**
 * Parse a duration the way Packer (Go's `time.ParseDuration`) does — "5m", "1h30m", "1.5s",
 * "300ms", "-1s" — and return milliseconds. A number is taken as milliseconds already.
 * A bare "0" is accepted; any other string without a unit is an error.
 */
export function parseDuration(value: string | number): number {
  if (typeof value === "number") {
    if (!Number.isFinite(value))
      throw new KilnError("KILN_DURATION", `invalid duration ${String(value)}: not a finite number`);
    return value;
  }
  const input = value.trim();
  let s = input;
  let sign = 1;
  if (s.startsWith("-") || s.startsWith("+")) {
    if (s.startsWith("-")) sign = -1;
    s = s.slice(1);
  }
  if (s === "0") return 0;
  if (s === "")
    throw new KilnError(
      "KILN_DURATION",
      `invalid duration "${input}": expected a number with a unit, like "30s", "5m" or "1h30m"`,
    );
  let total = 0;
  while (s.length > 0) {
    const m = PART.exec(s);
    const num = m?.[1];
    const unit = m?.[2];
    if (!m || num === undefined || unit === undefined || num === "" || num === ".") {
      throw new KilnError(
        "KILN_DURATION",
        `invalid duration "${input}": expected a number with a unit (ns, us, ms, s, m, h), like "30s", "5m" or "1h30m"`,
      );
    }
    const factor = UNIT_MS[unit];
    if (factor === undefined)
      throw new KilnError("KILN_DURATION", `invalid duration "${input}": unknown unit "${unit}"`);
    total += Number(num) * factor;
    s = s.slice(m[0].length);
  }
  return sign * total;
}

/** Like {@link parseDuration}, but `undefined` gives `fallback`. */
export function durationOr(value: string | number | undefined, fallback: number): number {
  return value === undefined ? fallback : parseDuration(value);
}
