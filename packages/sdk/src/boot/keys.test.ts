import { describe, expect, it } from "vitest";
import {
  CHAR_QCODES,
  charQcodes,
  SPECIAL_KEY_QCODES,
  SPECIAL_KEYS,
  specialKeyByName,
  USED_QCODES,
} from "./keys.js";
import { parseBootCommand } from "./parse.js";
import { actionQcodes } from "./type.js";

/** QEMU's QKeyCode enum (qapi/ui.json) — the subset a boot command may use, plus a few more. */
const QEMU_QCODES = new Set(
  (
    "unmapped shift shift_r alt alt_r ctrl ctrl_r menu esc 1 2 3 4 5 6 7 8 9 0 minus equal backspace tab " +
    "q w e r t y u i o p ret a s d f g h j k l z x c v b n m bracket_left bracket_right semicolon apostrophe " +
    "grave_accent backslash comma dot slash asterisk spc caps_lock f1 f2 f3 f4 f5 f6 f7 f8 f9 f10 f11 f12 " +
    "num_lock scroll_lock home pgup pgdn end left up down right insert delete meta_l meta_r compose less"
  ).split(" "),
);

const US_SHIFTED: Record<string, string> = {
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
const US_PLAIN: Record<string, string> = {
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
};

function expected(ch: string): string[] {
  if (/[a-z0-9]/.test(ch)) return [ch];
  if (/[A-Z]/.test(ch)) return ["shift", ch.toLowerCase()];
  if (US_SHIFTED[ch]) return ["shift", US_SHIFTED[ch] as string];
  return [US_PLAIN[ch] as string];
}

describe("qcode mapping", () => {
  const printable: string[] = [];
  for (let c = 0x20; c < 0x7f; c++) printable.push(String.fromCharCode(c));

  it.each(printable.map((c) => [c, expected(c)]))("%j → %j", (ch, qcodes) => {
    expect(charQcodes(ch)).toEqual(qcodes);
  });

  it("covers exactly the 95 printable ASCII characters plus \\n, \\r and \\t", () => {
    expect(Object.keys(CHAR_QCODES).sort()).toEqual([...printable, "\n", "\r", "\t"].sort());
    expect(charQcodes("\n")).toEqual(["ret"]);
    expect(charQcodes("\t")).toEqual(["tab"]);
    expect(charQcodes("é")).toBeUndefined();
    expect(charQcodes("toString")).toBeUndefined();
    expect(charQcodes("constructor")).toBeUndefined();
  });

  it("maps every special key to a qcode", () => {
    expect(SPECIAL_KEY_QCODES).toMatchObject({
      bs: "backspace",
      del: "delete",
      enter: "ret",
      return: "ret",
      esc: "esc",
      tab: "tab",
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
    });
    for (let i = 1; i <= 12; i++) expect(SPECIAL_KEY_QCODES[`f${i}` as "f1"]).toBe(`f${i}`);
    expect(Object.keys(SPECIAL_KEY_QCODES).sort()).toEqual([...SPECIAL_KEYS].sort());
  });

  it("uses only qcodes QEMU knows", () => {
    for (const q of USED_QCODES) expect(QEMU_QCODES.has(q), q).toBe(true);
  });

  it("finds special keys by name in any case", () => {
    expect(specialKeyByName("PageUp")).toBe("pageUp");
    expect(specialKeyByName("LEFTSUPER")).toBe("leftSuper");
    expect(specialKeyByName("nope")).toBeUndefined();
  });
});

describe("actionQcodes", () => {
  const first = (cmd: string) => {
    const a = parseBootCommand(cmd)[0];
    if (!a) throw new Error(`no action in ${cmd}`);
    return a;
  };

  it("gives the qcodes of hold actions", () => {
    expect(actionQcodes(first("<leftCtrlOn>"))).toEqual(["ctrl"]);
    expect(actionQcodes(first("<AOn>"))).toEqual(["shift", "a"]);
    expect(actionQcodes(first("<wait>"))).toEqual([]);
  });
});
