/**
 * Keys of a boot command and the QEMU QKeyCodes ("qcodes") they are typed with.
 *
 * QEMU's QMP `send-key` / `input-send-event` and the Proxmox VE `sendkey` API all name keys by
 * qcode, so one table serves both. Characters are mapped for a US keyboard layout: upper-case
 * letters and shifted symbols add `shift`.
 */

/** The special keys of Packer's boot_command syntax, by their canonical (documented) spelling. */
export const SPECIAL_KEYS = [
  "bs",
  "del",
  "enter",
  "return",
  "esc",
  "tab",
  "f1",
  "f2",
  "f3",
  "f4",
  "f5",
  "f6",
  "f7",
  "f8",
  "f9",
  "f10",
  "f11",
  "f12",
  "insert",
  "home",
  "end",
  "pageUp",
  "pageDown",
  "up",
  "down",
  "left",
  "right",
  "spacebar",
  "menu",
  "leftAlt",
  "rightAlt",
  "leftCtrl",
  "rightCtrl",
  "leftShift",
  "rightShift",
  "leftSuper",
  "rightSuper",
  "leftMeta",
  "rightMeta",
] as const;

export type SpecialKey = (typeof SPECIAL_KEYS)[number];

/** Special key → qcode. */
export const SPECIAL_KEY_QCODES: Readonly<Record<SpecialKey, string>> = Object.freeze({
  bs: "backspace",
  del: "delete",
  enter: "ret",
  return: "ret",
  esc: "esc",
  tab: "tab",
  f1: "f1",
  f2: "f2",
  f3: "f3",
  f4: "f4",
  f5: "f5",
  f6: "f6",
  f7: "f7",
  f8: "f8",
  f9: "f9",
  f10: "f10",
  f11: "f11",
  f12: "f12",
  insert: "insert",
  home: "home",
  end: "end",
  pageUp: "pgup",
  pageDown: "pgdn",
  up: "up",
  down: "down",
  left: "left",
  right: "right",
  spacebar: "spc",
  menu: "menu",
  leftAlt: "alt",
  rightAlt: "alt_r",
  leftCtrl: "ctrl",
  rightCtrl: "ctrl_r",
  leftShift: "shift",
  rightShift: "shift_r",
  leftSuper: "meta_l",
  rightSuper: "meta_r",
  leftMeta: "meta_l",
  rightMeta: "meta_r",
});

const SPECIAL_BY_LOWER = new Map<string, SpecialKey>(SPECIAL_KEYS.map((k) => [k.toLowerCase(), k]));

/** The canonical special key for a name in any letter case (`ENTER`, `leftalt`), or undefined. */
export function specialKeyByName(name: string): SpecialKey | undefined {
  return SPECIAL_BY_LOWER.get(name.toLowerCase());
}

/** Unshifted symbols on a US layout → qcode. */
const UNSHIFTED: Record<string, string> = {
  " ": "spc",
  "-": "minus",
  "=": "equal",
  "[": "bracket_left",
  "]": "bracket_right",
  "\\": "backslash",
  ";": "semicolon",
  "'": "apostrophe",
  "`": "grave_accent",
  ",": "comma",
  ".": "dot",
  "/": "slash",
  "\n": "ret",
  "\r": "ret",
  "\t": "tab",
};

/** Shifted symbols on a US layout → the qcode typed together with shift. */
const SHIFTED: Record<string, string> = {
  "!": "1",
  "@": "2",
  "#": "3",
  $: "4",
  "%": "5",
  "^": "6",
  "&": "7",
  "*": "8",
  "(": "9",
  ")": "0",
  _: "minus",
  "+": "equal",
  "{": "bracket_left",
  "}": "bracket_right",
  "|": "backslash",
  ":": "semicolon",
  '"': "apostrophe",
  "<": "comma",
  ">": "dot",
  "?": "slash",
  "~": "grave_accent",
};

function buildCharTable(): Record<string, readonly string[]> {
  const t: Record<string, readonly string[]> = {};
  for (let c = 0x61; c <= 0x7a; c++) {
    const ch = String.fromCharCode(c);
    t[ch] = Object.freeze([ch]);
    t[ch.toUpperCase()] = Object.freeze(["shift", ch]);
  }
  for (let d = 0; d <= 9; d++) t[String(d)] = Object.freeze([String(d)]);
  for (const [ch, q] of Object.entries(UNSHIFTED)) t[ch] = Object.freeze([q]);
  for (const [ch, q] of Object.entries(SHIFTED)) t[ch] = Object.freeze(["shift", q]);
  return Object.freeze(t);
}

/**
 * Character → the qcodes pressed together to type it on a US layout: every printable ASCII
 * character, plus newline/carriage return (`ret`) and tab (`tab`).
 */
export const CHAR_QCODES: Readonly<Record<string, readonly string[]>> = buildCharTable();

/** The qcodes that type `ch`, or undefined when it cannot be typed on a US keyboard. */
export function charQcodes(ch: string): readonly string[] | undefined {
  return Object.hasOwn(CHAR_QCODES, ch) ? CHAR_QCODES[ch] : undefined;
}

/** Every qcode this module produces (useful to validate a driver). */
export const USED_QCODES: ReadonlySet<string> = new Set([
  ...Object.values(SPECIAL_KEY_QCODES),
  ...Object.values(CHAR_QCODES).flat(),
]);
