/**
 * X11 keysyms (what RFB KeyEvent messages carry) for the qcodes the boot-command tables in
 * `../boot/keys.ts` produce. Printable characters are their own keysym (Latin-1 code point);
 * the rest come from X11's keysymdef.h (as in QEMU's ui/vnc_keysym.h and Packer's VNC driver).
 */
import { CHAR_QCODES, SPECIAL_KEY_QCODES } from "../boot/keys.js";

/** Non-character qcodes → keysym. */
const SPECIAL_KEYSYMS: Readonly<Record<string, number>> = {
  backspace: 0xff08,
  tab: 0xff09,
  ret: 0xff0d,
  esc: 0xff1b,
  delete: 0xffff,
  insert: 0xff63,
  home: 0xff50,
  left: 0xff51,
  up: 0xff52,
  right: 0xff53,
  down: 0xff54,
  pgup: 0xff55,
  pgdn: 0xff56,
  end: 0xff57,
  menu: 0xff67,
  f1: 0xffbe,
  f2: 0xffbf,
  f3: 0xffc0,
  f4: 0xffc1,
  f5: 0xffc2,
  f6: 0xffc3,
  f7: 0xffc4,
  f8: 0xffc5,
  f9: 0xffc6,
  f10: 0xffc7,
  f11: 0xffc8,
  f12: 0xffc9,
  shift: 0xffe1, // Shift_L
  shift_r: 0xffe2,
  ctrl: 0xffe3, // Control_L
  ctrl_r: 0xffe4,
  alt: 0xffe9, // Alt_L
  alt_r: 0xffea,
  meta_l: 0xffeb, // Super_L (QEMU's keymaps turn Meta_L into Alt)
  meta_r: 0xffec,
  spc: 0x20,
};

export const KEYSYM_SHIFT_L = 0xffe1;

/** The qcodes that are shift keys: while one is down, character keys type their shifted character. */
export const SHIFT_QCODES: ReadonlySet<string> = new Set(["shift", "shift_r"]);

export interface QcodeKeysyms {
  /** The keysym of the key alone. */
  plain: number;
  /** The keysym typed with shift held, for character keys that have one (`1` → `!`, `a` → `A`). */
  shifted?: number;
}

function buildTable(): ReadonlyMap<string, QcodeKeysyms> {
  const t = new Map<string, QcodeKeysyms>();
  for (const [q, sym] of Object.entries(SPECIAL_KEYSYMS)) t.set(q, { plain: sym });
  // Characters (printable ASCII only: "\n" and "\t" are the ret/tab keys above).
  for (const [ch, qs] of Object.entries(CHAR_QCODES)) {
    const cp = ch.codePointAt(0) as number;
    if (cp < 0x21 || cp > 0x7e) continue;
    const key = qs[qs.length - 1] as string;
    const shifted = qs.length === 2 && qs[0] === "shift";
    const entry = t.get(key) ?? { plain: 0 };
    if (shifted) entry.shifted = cp;
    else entry.plain = cp;
    t.set(key, entry);
  }
  for (const q of Object.values(SPECIAL_KEY_QCODES)) {
    if (!t.has(q)) throw new Error(`no keysym for qcode ${q}`); // a table out of step: fails at import in tests
  }
  return t;
}

/** qcode → keysyms, for every qcode the boot-command tables use. */
export const QCODE_KEYSYMS: ReadonlyMap<string, QcodeKeysyms> = buildTable();

/** The keysym for a qcode, shifted when `shift` is down and the key has a shifted character. */
export function qcodeKeysym(qcode: string, shift = false): number | undefined {
  const k = QCODE_KEYSYMS.get(qcode);
  if (!k) return undefined;
  return shift && k.shifted !== undefined ? k.shifted : k.plain;
}
