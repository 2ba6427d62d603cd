/**
 * A parser for Packer's boot_command syntax.
 *
 * - Text is typed character by character.
 * - `<enter>`, `<esc>`, `<f5>`, `<leftAlt>` … press a special key (names in any letter case).
 * - `<leftAltOn>` … `<leftAltOff>` hold a key down across the keys between them; `<aOn>`/`<aOff>`
 *   do the same for one character.
 * - `<wait>` waits 1 s, `<wait5>` 5 s (a bare number is seconds), `<wait1m30s>` / `<wait500ms>`
 *   any Go duration.
 * - Anything else in angle brackets (`<notakey>`) is typed literally, as Packer does.
 *
 * Unlike Packer, a malformed wait (`<waitXYZ>`) is an error rather than literal text: typing
 * "<waitXYZ>" into an installer is never what was meant.
 */
import { KilnError, parseDuration } from "@kiln/core";
import { charQcodes, type SpecialKey, specialKeyByName } from "./keys.js";

/** Where an action came from: `group` is the index in the boot_command list, `offset` the
 * 0-based character (UTF-16) offset in that entry, `length` the length of its source text. */
export interface ActionSource {
  group: number;
  offset: number;
  length: number;
}

/** Type one character (a literal in the command). */
export interface CharAction extends ActionSource {
  type: "char";
  char: string;
}

/** Press (and release) a special key. */
export interface KeyAction extends ActionSource {
  type: "key";
  key: SpecialKey;
}

/** Hold a special key or a character down (`<leftAltOn>`, `<aOn>`) or release it (`…Off`). */
export interface HoldAction extends ActionSource {
  type: "down" | "up";
  /** A special key's name, or one character when `char` is true. */
  key: SpecialKey | string;
  char: boolean;
}

/** Pause before sending more keys. */
export interface WaitAction extends ActionSource {
  type: "wait";
  ms: number;
}

export type BootAction = CharAction | KeyAction | HoldAction | WaitAction;

export const BOOT_COMMAND_ERROR = "KILN_BOOT_COMMAND";

/** A boot_command that cannot be parsed or typed; carries where the problem is. */
export class BootCommandError extends KilnError {
  /** Index of the boot_command entry (0 for a single string). */
  readonly group: number;
  /** 0-based offset in that entry. */
  readonly offset: number;
  readonly length: number;

  constructor(message: string, where: ActionSource, hint?: string) {
    super(BOOT_COMMAND_ERROR, message, hint === undefined ? {} : { hint });
    this.name = "BootCommandError";
    this.group = where.group;
    this.offset = where.offset;
    this.length = where.length;
  }
}

export interface ParseBootCommandOptions {
  /** Fail on characters that have no key on a US keyboard (default true). */
  checkTypable?: boolean;
}

const WAIT_HINT =
  "Write <wait> (1 second), <wait5> (seconds) or a duration such as <wait500ms>, <wait10s> or <wait1m30s>.";

/** Parse the argument of `<waitXX>` to milliseconds, or return a reason it is invalid. */
function waitMs(arg: string): number | string {
  if (arg === "") return 1000;
  if (/^[0-9]+$/.test(arg)) {
    const s = Number(arg);
    return s > 0 ? s * 1000 : "a wait must be longer than zero";
  }
  if (/^[-+]/.test(arg)) return "a wait must be longer than zero";
  let ms: number;
  try {
    ms = parseDuration(arg.toLowerCase());
  } catch {
    return `"${arg}" is not a duration`;
  }
  return ms > 0 ? ms : "a wait must be longer than zero";
}

function describeWhere(where: ActionSource, groups: number): string {
  return groups > 1 || where.group > 0
    ? `boot_command[${where.group}] at offset ${where.offset}`
    : `boot_command at offset ${where.offset}`;
}

/**
 * Parse a boot command (one string, or Packer's list of strings, which are typed one after the
 * other: a `<…>` may not span two entries) into actions. Throws {@link BootCommandError}.
 */
export function parseBootCommand(
  command: string | readonly string[],
  options: ParseBootCommandOptions = {},
): BootAction[] {
  const groups = typeof command === "string" ? [command] : command;
  const checkTypable = options.checkTypable ?? true;
  const out: BootAction[] = [];
  groups.forEach((text, group) => {
    if (typeof text !== "string") {
      throw new BootCommandError(`boot_command[${group}] is not a string`, { group, offset: 0, length: 0 });
    }
    parseGroup(text, group, groups.length, checkTypable, out);
  });
  return out;
}

function parseGroup(text: string, group: number, groups: number, checkTypable: boolean, out: BootAction[]) {
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === "<") {
      const end = text.indexOf(">", i + 1);
      const inner = end === -1 ? "" : text.slice(i + 1, end);
      if (end !== -1 && !inner.includes("<") && !inner.includes("\n")) {
        const where = { group, offset: i, length: end + 1 - i };
        const action = parseTag(inner, where, groups);
        if (action !== undefined) {
          if (checkTypable && (action.type === "down" || action.type === "up") && action.char) {
            checkChar(action.key, where, groups);
          }
          out.push(action);
          i = end + 1;
          continue;
        }
      }
    }
    // A literal character (a whole code point); "\r\n" is one Enter.
    const cp = text.codePointAt(i) ?? 0;
    let ch = String.fromCodePoint(cp);
    let len = ch.length;
    if (ch === "\r" && text[i + 1] === "\n") {
      ch = "\n";
      len = 2;
    }
    const where = { group, offset: i, length: len };
    if (checkTypable) checkChar(ch, where, groups);
    out.push({ type: "char", char: ch, ...where });
    i += len;
  }
}

function checkChar(ch: string, where: ActionSource, groups: number) {
  if (charQcodes(ch) !== undefined) return;
  const shown = /^[\p{L}\p{N}\p{P}\p{S}]$/u.test(ch) ? `"${ch}"` : "a character";
  const code = `U+${(ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0")}`;
  throw new BootCommandError(
    `${describeWhere(where, groups)}: ${shown} (${code}) cannot be typed on a US keyboard`,
    where,
    "Boot commands type printable ASCII characters, <tab> and <enter>; replace the character, or fetch text that needs it over HTTP.",
  );
}

/** Interpret the text between `<` and `>`; undefined means "type it literally". */
function parseTag(inner: string, where: ActionSource, groups: number): BootAction | undefined {
  const lower = inner.toLowerCase();
  const special = specialKeyByName(inner);
  if (special !== undefined) return { type: "key", key: special, ...where };

  if (lower.startsWith("wait")) {
    const ms = waitMs(inner.slice(4));
    if (typeof ms === "number") return { type: "wait", ms, ...where };
    throw new BootCommandError(
      `${describeWhere(where, groups)}: invalid wait <${inner}>: ${ms}`,
      where,
      WAIT_HINT,
    );
  }

  const toggle = /(on|off)$/.exec(lower);
  if (toggle) {
    const name = inner.slice(0, inner.length - (toggle[1]?.length ?? 0));
    const type = toggle[1] === "on" ? "down" : "up";
    const key = specialKeyByName(name);
    if (key !== undefined) return { type, key, char: false, ...where };
    if ([...name].length === 1) return { type, key: name, char: true, ...where };
  }
  return undefined;
}

/** A short human form of an action, for logs: `"a"`, `<enter>`, `<leftAltOn>`, `<wait 1.5s>`. */
export function formatBootAction(action: BootAction): string {
  switch (action.type) {
    case "char":
      return JSON.stringify(action.char);
    case "key":
      return `<${action.key}>`;
    case "down":
    case "up":
      return `<${action.key}${action.type === "down" ? "On" : "Off"}>`;
    case "wait":
      return `<wait ${action.ms % 1000 === 0 ? `${action.ms / 1000}s` : `${action.ms}ms`}>`;
  }
}
