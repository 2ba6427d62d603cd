/**
 * Date formats into formatdate()'s: Go's reference-time layouts (`{{isotime "2006-01-02"}}`,
 * legacy_isotime) and strftime's `%Y-%m-%d` (legacy_strftime). Letters that are text are quoted
 * as formatdate wants ('T'). Undefined when a part has no formatdate field (fractions of seconds).
 */

const GO_TOKENS: Array<[string, string]> = [
  ["January", "MMMM"],
  ["Monday", "EEEE"],
  ["2006", "YYYY"],
  ["Z07:00", "Z"],
  ["-07:00", "ZZZZZ"],
  ["-0700", "ZZZZ"],
  ["Jan", "MMM"],
  ["Mon", "EEE"],
  ["MST", "ZZZ"],
  ["01", "MM"],
  ["02", "DD"],
  ["03", "HH"],
  ["04", "mm"],
  ["05", "ss"],
  ["06", "YY"],
  ["15", "hh"],
  ["PM", "AA"],
  ["pm", "aa"],
  ["_2", "D"],
  ["1", "M"],
  ["2", "D"],
  ["3", "H"],
  ["4", "m"],
  ["5", "s"],
];

const STRFTIME: Record<string, string> = {
  Y: "YYYY",
  y: "YY",
  m: "MM",
  d: "DD",
  e: "D",
  H: "hh",
  I: "HH",
  M: "mm",
  S: "ss",
  p: "AA",
  b: "MMM",
  h: "MMM",
  B: "MMMM",
  a: "EEE",
  A: "EEEE",
  Z: "ZZZ",
  z: "ZZZZ",
  F: "YYYY-MM-DD",
  T: "hh:mm:ss",
  R: "hh:mm",
  D: "MM/DD/YY",
};

/** Text between fields: letters quoted, a quote doubled. */
function literal(text: string): string {
  return text.replace(/[A-Za-z']+/g, (run) => (run === "'" ? "''" : `'${run.replace(/'/g, "''")}'`));
}

export function goLayoutToFormatdate(layout: string): string | undefined {
  let out = "";
  let text = "";
  for (let i = 0; i < layout.length; ) {
    if (/^[.,]0+|^[.,]9+/.test(layout.slice(i)) && /\d/.test(layout[i - 1] ?? "")) return undefined;
    const tok = GO_TOKENS.find(([t]) => layout.startsWith(t, i));
    if (tok) {
      out += literal(text) + tok[1];
      text = "";
      i += tok[0].length;
    } else {
      text += layout[i];
      i++;
    }
  }
  return out + literal(text);
}

export function strftimeToFormatdate(format: string): string | undefined {
  let out = "";
  let text = "";
  for (let i = 0; i < format.length; i++) {
    const c = format[i] as string;
    if (c !== "%") {
      text += c;
      continue;
    }
    const f = format[i + 1];
    i++;
    if (f === "%") {
      text += "%";
      continue;
    }
    const spec = f === undefined ? undefined : STRFTIME[f];
    if (spec === undefined) return undefined;
    out += literal(text) + spec;
    text = "";
  }
  return out + literal(text);
}
