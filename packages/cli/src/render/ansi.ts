/**
 * What may reach an output of the text that tools and plugins print: everything but colour is
 * removed before it reaches a terminal (a cursor move or screen clear from a tool would break the
 * live lines), and everything, colour too, before it reaches a log, JSON or machine-readable
 * output.
 */
import ansiRegex from "ansi-regex";
import stripAnsi from "strip-ansi";

const SEQUENCE = ansiRegex();
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching terminal control characters is the point
const SGR = /^\u001b\[[0-9;:]*m$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: C0 controls but tab and newline, and DEL
const CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f]/g;

/** Only the text: no escape sequence, no control character (tab and newline stay). */
export function plainText(s: string): string {
  return stripAnsi(lastState(s)).replace(CONTROLS, "");
}

/** Colours kept (and reset at the end, so they never spill onto the next line); nothing else. */
export function terminalText(s: string): string {
  let coloured = false;
  let out = "";
  let at = 0;
  const text = lastState(s);
  for (const m of text.matchAll(SEQUENCE)) {
    out += text.slice(at, m.index).replace(CONTROLS, "");
    if (SGR.test(m[0])) {
      coloured = true;
      out += m[0];
    }
    at = m.index + m[0].length;
  }
  out += text.slice(at).replace(CONTROLS, "");
  return coloured ? `${out}\u001b[0m` : out;
}

/** A carriage return inside a line (a tool's progress bar): keep what the terminal would show last. */
function lastState(s: string): string {
  if (!s.includes("\r")) return s;
  return s
    .split("\n")
    .map((line) => line.split("\r").filter(Boolean).pop() ?? "")
    .join("\n");
}
