/** The clock: timestamp(), formatdate() and timeadd() on RFC 3339 timestamps, as Packer has them. */
import { parseDuration } from "../../duration.js";
import { type Args, evalError, type FunctionDef } from "./args.js";

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

interface Stamp {
  /** The instant. */
  ms: number;
  /** The offset it was written with, in minutes east of UTC. */
  offset: number;
  utc: boolean;
  fraction: string;
}

function parseStamp(a: Args, i: number): Stamp {
  const s = a.str(i);
  const m = RFC3339.exec(s);
  if (!m) {
    throw evalError(
      a.fn,
      `"${s.slice(0, 40)}" is not an RFC 3339 timestamp.`,
      i,
      'Write e.g. "2024-05-06T07:08:09Z", or use timestamp().',
    );
  }
  const [, y, mo, d, h, mi, se, frac = "", zone = "Z"] = m;
  const offset =
    zone === "Z" || zone === "z"
      ? 0
      : (zone[0] === "-" ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)));
  const local = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(se));
  const check = new Date(local);
  if (check.getUTCDate() !== Number(d) || Number(h) > 23 || Number(mi) > 59 || Number(se) > 60) {
    throw evalError(a.fn, `"${s}" is not a valid date and time.`, i);
  }
  return {
    ms: local - offset * 60_000 + Number(`0${frac || ".0"}`) * 1000,
    offset,
    utc: zone === "Z" || zone === "z",
    fraction: frac,
  };
}

const MONTHS = [
  "January",
  "February",
  "March",
  "April",
  "May",
  "June",
  "July",
  "August",
  "September",
  "October",
  "November",
  "December",
];
const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const two = (n: number) => String(n).padStart(2, "0");

function zone(offset: number, colon: boolean): string {
  const sign = offset < 0 ? "-" : "+";
  const abs = Math.abs(offset);
  return `${sign}${two(Math.floor(abs / 60))}${colon ? ":" : ""}${two(abs % 60)}`;
}

/** The date/time fields of a stamp in the offset it was written with. */
function fields(t: Stamp): Date {
  return new Date(t.ms + t.offset * 60_000);
}

function formatDate(_a: Args, spec: string, t: Stamp): string {
  const d = fields(t);
  const h = d.getUTCHours();
  const tokens: Record<string, () => string> = {
    YYYY: () => String(d.getUTCFullYear()).padStart(4, "0"),
    YY: () => two(d.getUTCFullYear() % 100),
    MMMM: () => MONTHS[d.getUTCMonth()] as string,
    MMM: () => (MONTHS[d.getUTCMonth()] as string).slice(0, 3),
    MM: () => two(d.getUTCMonth() + 1),
    M: () => String(d.getUTCMonth() + 1),
    DD: () => two(d.getUTCDate()),
    D: () => String(d.getUTCDate()),
    EEEE: () => DAYS[d.getUTCDay()] as string,
    EEE: () => (DAYS[d.getUTCDay()] as string).slice(0, 3),
    hh: () => two(h),
    h: () => String(h),
    HH: () => two(h % 12 || 12),
    H: () => String(h % 12 || 12),
    AA: () => (h < 12 ? "AM" : "PM"),
    aa: () => (h < 12 ? "am" : "pm"),
    mm: () => two(d.getUTCMinutes()),
    m: () => String(d.getUTCMinutes()),
    ss: () => two(d.getUTCSeconds()),
    s: () => String(d.getUTCSeconds()),
    ZZZZZ: () => zone(t.offset, true),
    ZZZZ: () => zone(t.offset, false),
    ZZZ: () => (t.offset === 0 ? "UTC" : zone(t.offset, false)),
    Z: () => (t.offset === 0 ? "Z" : zone(t.offset, true)),
  };
  let out = "";
  let i = 0;
  while (i < spec.length) {
    const c = spec[i] as string;
    if (c === "'") {
      const end = spec.indexOf("'", i + 1);
      if (end === i + 1) {
        out += "'";
        i += 2;
        continue;
      }
      if (end < 0) throw evalError("formatdate", "a quoted literal in the format is not closed with '.", 0);
      out += spec.slice(i + 1, end).replace(/''/g, "'");
      i = end + 1;
      continue;
    }
    if (/[A-Za-z]/.test(c)) {
      let j = i;
      while (spec[j] === c) j++;
      const run = spec.slice(i, j);
      const f = Object.hasOwn(tokens, run) ? tokens[run] : undefined;
      if (!f) {
        throw evalError(
          "formatdate",
          `"${run}" is not a date/time field.`,
          0,
          "Fields: YYYY YY MMMM MMM MM M DD D EEEE EEE hh h HH H AA aa mm m ss s ZZZZZ ZZZZ ZZZ Z; quote literal letters with '…'.",
        );
      }
      out += f();
      i = j;
      continue;
    }
    out += c;
    i++;
  }
  return out;
}

function rfc3339(t: Stamp): string {
  const d = fields(t);
  const base = d.toISOString().replace(/\.\d+Z$/, "");
  const frac =
    t.ms % 1000 === 0
      ? ""
      : `.${String(((t.ms % 1000) + 1000) % 1000)
          .padStart(3, "0")
          .replace(/0+$/, "")}`;
  return `${base}${frac}${t.utc || t.offset === 0 ? "Z" : zone(t.offset, true)}`;
}

export const TIME_FUNCTIONS: Array<[string, FunctionDef]> = [
  [
    "timestamp",
    {
      params: "",
      min: 0,
      max: 0,
      call: (_a, ctx) => {
        const d = ctx.now();
        if (Number.isNaN(d.getTime())) throw evalError("timestamp", "the clock returned an invalid date.");
        return d.toISOString().replace(/\.\d+Z$/, "Z");
      },
    },
  ],
  [
    "formatdate",
    { params: "spec, timestamp", min: 2, max: 2, call: (a) => formatDate(a, a.str(0), parseStamp(a, 1)) },
  ],
  [
    "timeadd",
    {
      params: "timestamp, duration",
      min: 2,
      max: 2,
      call: (a) => {
        const t = parseStamp(a, 0);
        const raw = a.str(1);
        const neg = raw.startsWith("-");
        let ms: number;
        try {
          ms = parseDuration(neg || raw.startsWith("+") ? raw.slice(1) : raw);
        } catch {
          throw evalError(
            "timeadd",
            `"${raw.slice(0, 40)}" is not a duration.`,
            1,
            'Write e.g. "1h30m", "-10m" or "24h".',
          );
        }
        return rfc3339({ ...t, ms: t.ms + (neg ? -ms : ms) });
      },
    },
  ],
];
