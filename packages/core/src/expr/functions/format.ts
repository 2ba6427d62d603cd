/**
 * format() and formatlist(): Go's fmt verbs as Packer's format() has them — %v %s %q %t %d %b %o
 * %x %X %e %E %f %g %G %%, with flags (+ - # 0 space), width, precision and %[n] argument indexes.
 */
import { checkLength, formatNumber, toJson, toText, typeOf } from "../values.js";
import { Args, evalError, type FunctionDef } from "./args.js";

interface Spec {
  flags: string;
  width: number | undefined;
  precision: number | undefined;
  verb: string;
}

const VERBS = "vsqtdboxXeEfgG";

function pad(s: string, spec: Spec, numeric: boolean): string {
  if (spec.width === undefined || s.length >= spec.width) return s;
  const fill = spec.width - s.length;
  if (spec.flags.includes("-")) return s + " ".repeat(fill);
  if (spec.flags.includes("0") && numeric) {
    const sign = /^[+\- ]/.test(s) ? (s[0] as string) : "";
    return sign + "0".repeat(fill) + s.slice(sign.length);
  }
  return " ".repeat(fill) + s;
}

function signed(n: number, body: string, spec: Spec): string {
  if (n < 0 || Object.is(n, -0)) return body.startsWith("-") ? body : `-${body}`;
  if (spec.flags.includes("+")) return `+${body}`;
  if (spec.flags.includes(" ")) return ` ${body}`;
  return body;
}

/** Go's %e: at least two exponent digits. */
function expForm(n: number, precision: number, upper: boolean): string {
  const s = Math.abs(n)
    .toExponential(precision)
    .replace(/e([+-])(\d)$/, "e$10$2");
  return upper ? s.toUpperCase() : s;
}

function number(a: Args, i: number, verb: string, integer: boolean): number {
  const v = a.values[i];
  let n: number | undefined;
  if (typeof v === "number") n = v;
  else if (typeof v === "string" && v.trim() !== "" && Number.isFinite(Number(v))) n = Number(v);
  if (n === undefined || (integer && !Number.isInteger(n))) {
    throw a.typeError(i, integer ? `a whole number (for %${verb})` : `a number (for %${verb})`);
  }
  return n;
}

function one(a: Args, i: number, spec: Spec): string {
  const v = a.values[i];
  const p = spec.precision;
  switch (spec.verb) {
    case "v":
      if (typeOf(v) === "list" || typeOf(v) === "map") return pad(toJson(v), spec, false);
      return pad(typeof v === "number" ? signed(v, formatNumber(Math.abs(v)), spec) : toText(v), spec, false);
    case "s": {
      const t = toText(v);
      return pad(p !== undefined ? Array.from(t).slice(0, p).join("") : t, spec, false);
    }
    case "q":
      return pad(JSON.stringify(toText(v)), spec, false);
    case "t":
      if (typeof v !== "boolean" && v !== "true" && v !== "false") throw a.typeError(i, "a bool (for %t)");
      return pad(String(v === true || v === "true"), spec, false);
    case "d":
    case "b":
    case "o":
    case "x":
    case "X": {
      if ((spec.verb === "x" || spec.verb === "X") && typeof v === "string" && !/^-?\d+$/.test(v.trim())) {
        const hex = Buffer.from(v, "utf8").toString("hex");
        return pad(spec.verb === "X" ? hex.toUpperCase() : hex, spec, false);
      }
      const n = number(a, i, spec.verb, true);
      const radix = { d: 10, b: 2, o: 8, x: 16, X: 16 }[spec.verb] as number;
      let body = Math.abs(n).toString(radix);
      if (spec.verb === "X") body = body.toUpperCase();
      if (spec.flags.includes("#"))
        body = ({ b: "0b", o: "0", x: "0x", X: "0X" } as Record<string, string>)[spec.verb] + body;
      return pad(signed(n, body, spec), spec, true);
    }
    case "e":
    case "E": {
      const n = number(a, i, spec.verb, false);
      return pad(signed(n, expForm(n, p ?? 6, spec.verb === "E"), spec), spec, true);
    }
    case "f": {
      const n = number(a, i, spec.verb, false);
      return pad(signed(n, Math.abs(n).toFixed(p ?? 6), spec), spec, true);
    }
    default: {
      // %g / %G as Go: %e form when the exponent is < -4 or ≥ the precision (6 when shortest),
      // trailing zeros dropped.
      const n = number(a, i, spec.verb, false);
      const abs = Math.abs(n);
      const digits = p === undefined ? undefined : Math.max(p, 1);
      const exp =
        abs === 0
          ? 0
          : Number(abs.toExponential(digits === undefined ? undefined : digits - 1).split("e")[1]);
      let body: string;
      if (exp < -4 || exp >= (digits ?? 6)) {
        body = abs.toExponential(digits === undefined ? undefined : digits - 1);
        body = body
          .replace(/\.?0+e/, (m) => (m.startsWith(".") || /^0+e$/.test(m) ? "e" : m))
          .replace(/e([+-])(\d)$/, "e$10$2");
      } else {
        body = digits === undefined ? formatNumber(abs) : abs.toFixed(Math.max(0, digits - 1 - exp));
        if (body.includes(".")) body = body.replace(/\.?0+$/, "");
      }
      if (spec.verb === "G") body = body.toUpperCase();
      return pad(signed(n, body, spec), spec, true);
    }
  }
}

/** Format `f` with `values` (argument positions in `a` start at `first`). */
export function formatWith(a: Args, f: string, first: number): string {
  let out = "";
  let next = first;
  let used = first;
  for (let i = 0; i < f.length; i++) {
    const c = f[i] as string;
    if (c !== "%") {
      out += c;
      continue;
    }
    if (f[i + 1] === "%") {
      out += "%";
      i++;
      continue;
    }
    const m = /^([+\-# 0]*)(?:\[(\d+)\])?(\d+)?(?:\.(\d*))?(?:\[(\d+)\])?(.)?/.exec(
      f.slice(i + 1),
    ) as RegExpExecArray;
    const [whole, flags = "", idx1, width, precision, idx2, verb] = m;
    if (verb === undefined || !VERBS.includes(verb)) {
      throw evalError(
        a.fn,
        `unknown verb "%${whole}" in the format string.`,
        0,
        "The verbs are %v %s %q %t %d %b %o %x %X %e %f %g and %%, with flags, width and precision as in Go.",
      );
    }
    const idx = idx1 ?? idx2;
    if (idx !== undefined) next = first + Number(idx) - 1;
    if (next >= a.length || next < first) {
      throw evalError(
        a.fn,
        idx !== undefined
          ? `%[${idx}] refers to argument ${idx}, but ${a.length - first} were given.`
          : "not enough arguments for the verbs in the format string.",
        undefined,
        "Pass one argument per verb.",
      );
    }
    out += one(a, next, {
      flags,
      width: width !== undefined ? Number(width) : undefined,
      precision: precision !== undefined ? Number(precision || "0") : undefined,
      verb,
    });
    next++;
    used = Math.max(used, next);
    checkLength(out);
    i += whole.length;
  }
  if (used < a.length) {
    throw evalError(a.fn, `${a.length - used} more argument(s) than verbs in the format string.`, used);
  }
  return out;
}

export const FORMAT_FUNCTIONS: Array<[string, FunctionDef]> = [
  [
    "format",
    { params: "fmt, args…", min: 1, max: Number.POSITIVE_INFINITY, call: (a) => formatWith(a, a.str(0), 1) },
  ],
  [
    "formatlist",
    {
      params: "fmt, args…",
      min: 1,
      max: Number.POSITIVE_INFINITY,
      call: (a) => {
        const f = a.str(0);
        let n: number | undefined;
        for (let i = 1; i < a.length; i++) {
          const v = a.values[i];
          if (!Array.isArray(v)) continue;
          if (n !== undefined && v.length !== n)
            throw evalError("formatlist", `the lists have different lengths (${n} and ${v.length}).`, i);
          n = v.length;
        }
        if (n === undefined) return [formatWith(a, f, 1)];
        const out: string[] = [];
        for (let k = 0; k < n; k++) {
          const row = a.values.map((v, i) => (i > 0 && Array.isArray(v) ? v[k] : v));
          out.push(formatWith(new Args("formatlist", row), f, 1));
        }
        return out;
      },
    },
  ],
];
