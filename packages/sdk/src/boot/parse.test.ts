import { isKilnError } from "@kiln/core";
import { describe, expect, it } from "vitest";
import { SPECIAL_KEYS } from "./keys.js";
import { type BootAction, BootCommandError, formatBootAction, parseBootCommand } from "./parse.js";

/** Actions without their source positions, for compact expectations. */
function bare(actions: BootAction[]) {
  return actions.map(({ group: _g, offset: _o, length: _l, ...rest }) => rest);
}
function chars(s: string) {
  return [...s].map((char) => ({ type: "char", char }));
}
function errorOf(fn: () => unknown): BootCommandError {
  try {
    fn();
  } catch (err) {
    return err as BootCommandError;
  }
  throw new Error("expected an error");
}

describe("parseBootCommand", () => {
  it("types plain text character by character", () => {
    expect(bare(parseBootCommand("ab C"))).toEqual(chars("ab C"));
    expect(parseBootCommand("")).toEqual([]);
  });

  it("parses a realistic command with positions", () => {
    const actions = parseBootCommand("<esc><wait>linux ds=x<enter>");
    expect(actions[0]).toEqual({ type: "key", key: "esc", group: 0, offset: 0, length: 5 });
    expect(actions[1]).toEqual({ type: "wait", ms: 1000, group: 0, offset: 5, length: 6 });
    expect(actions[2]).toEqual({ type: "char", char: "l", group: 0, offset: 11, length: 1 });
    expect(actions.at(-1)).toEqual({ type: "key", key: "enter", group: 0, offset: 21, length: 7 });
  });

  it.each(SPECIAL_KEYS.map((k) => [k]))("knows the special key <%s>", (key) => {
    expect(bare(parseBootCommand(`<${key}>`))).toEqual([{ type: "key", key }]);
  });

  it("reads key names in any letter case", () => {
    expect(bare(parseBootCommand("<ENTER><Esc><PAGEUP><pagedown><F12><LeftAlt><BS>"))).toEqual([
      { type: "key", key: "enter" },
      { type: "key", key: "esc" },
      { type: "key", key: "pageUp" },
      { type: "key", key: "pageDown" },
      { type: "key", key: "f12" },
      { type: "key", key: "leftAlt" },
      { type: "key", key: "bs" },
    ]);
  });

  it("does not confuse <left> and <leftAlt>, <end> and <enter>, <f1> and <f10>", () => {
    expect(bare(parseBootCommand("<left><leftAlt><end><enter><f1><f10><f11>"))).toEqual([
      { type: "key", key: "left" },
      { type: "key", key: "leftAlt" },
      { type: "key", key: "end" },
      { type: "key", key: "enter" },
      { type: "key", key: "f1" },
      { type: "key", key: "f10" },
      { type: "key", key: "f11" },
    ]);
  });

  it("parses hold and release of special keys (any case) and characters", () => {
    expect(
      bare(parseBootCommand("<leftAltOn><F2><leftAltOff><LEFTCTRLON>c<leftctrloff><aOn><aOff><ROn>")),
    ).toEqual([
      { type: "down", key: "leftAlt", char: false },
      { type: "key", key: "f2" },
      { type: "up", key: "leftAlt", char: false },
      { type: "down", key: "leftCtrl", char: false },
      { type: "char", char: "c" },
      { type: "up", key: "leftCtrl", char: false },
      { type: "down", key: "a", char: true },
      { type: "up", key: "a", char: true },
      { type: "down", key: "R", char: true },
    ]);
    for (const k of [
      "rightAlt",
      "leftShift",
      "rightShift",
      "rightCtrl",
      "leftSuper",
      "rightSuper",
      "enter",
      "spacebar",
    ]) {
      expect(bare(parseBootCommand(`<${k}On><${k}Off>`))).toEqual([
        { type: "down", key: k, char: false },
        { type: "up", key: k, char: false },
      ]);
    }
  });

  it.each([
    ["<wait>", 1000],
    ["<wait5>", 5000],
    ["<wait10>", 10_000],
    ["<wait7>", 7000],
    ["<wait1m30s>", 90_000],
    ["<wait500ms>", 500],
    ["<wait1.5s>", 1500],
    ["<wait2h>", 7_200_000],
    ["<wait1h2m3s>", 3_723_000],
    ["<wait250us>", 0.25],
    ["<WAIT5>", 5000],
    ["<Wait10S>", 10_000],
    ["<wait1M>", 60_000],
  ])("%s waits %d ms", (cmd, ms) => {
    expect(bare(parseBootCommand(cmd))).toEqual([{ type: "wait", ms }]);
  });

  it("types unknown <…> literally, as Packer does", () => {
    expect(bare(parseBootCommand("<notakey>"))).toEqual(chars("<notakey>"));
    expect(bare(parseBootCommand("a<b>c"))).toEqual(chars("a<b>c"));
    expect(bare(parseBootCommand("<>"))).toEqual(chars("<>"));
    expect(bare(parseBootCommand("<leftAltOnn>"))).toEqual(chars("<leftAltOnn>"));
    expect(bare(parseBootCommand("1 < 2 and 3 > 2"))).toEqual(chars("1 < 2 and 3 > 2"));
    expect(bare(parseBootCommand("x <= y"))).toEqual(chars("x <= y"));
    expect(bare(parseBootCommand("<enter"))).toEqual(chars("<enter"));
    expect(bare(parseBootCommand("enter>"))).toEqual(chars("enter>"));
  });

  it("types a literal < before a real tag (<<enter>)", () => {
    expect(bare(parseBootCommand("<<enter>"))).toEqual([
      { type: "char", char: "<" },
      { type: "key", key: "enter" },
    ]);
    expect(bare(parseBootCommand("<a<tab>"))).toEqual([...chars("<a"), { type: "key", key: "tab" }]);
  });

  it("types newlines and tabs in the text as Enter and Tab (CRLF is one Enter)", () => {
    const a = parseBootCommand("a\r\nb\nc\td");
    expect(bare(a)).toEqual(chars("a\nb\nc\td"));
    expect(a[1]).toMatchObject({ offset: 1, length: 2 });
    expect(a[2]).toMatchObject({ offset: 3 });
  });

  it("parses a list of entries as groups, with offsets per entry", () => {
    const a = parseBootCommand(["<esc><wait>", "linux<enter>"]);
    expect(a.map((x) => [x.type, x.group, x.offset])).toEqual([
      ["key", 0, 0],
      ["wait", 0, 5],
      ["char", 1, 0],
      ["char", 1, 1],
      ["char", 1, 2],
      ["char", 1, 3],
      ["char", 1, 4],
      ["key", 1, 5],
    ]);
  });

  describe("errors", () => {
    it.each([
      ["<waitXYZ>", 0, /invalid wait <waitXYZ>: "XYZ" is not a duration/],
      ["ab<wait5x>", 2, /invalid wait <wait5x>/],
      ["<wait0>", 0, /longer than zero/],
      ["<wait0s>", 0, /longer than zero/],
      ["<wait-5s>", 0, /longer than zero/],
      ["<wait 5>", 0, /invalid wait/],
      ["<wait5d>", 0, /not a duration/],
      ["<waitOn>", 0, /invalid wait/],
      ["<wait1.>", 0, /not a duration/],
    ])("%s is an error at offset %d", (cmd, offset, message) => {
      const err = errorOf(() => parseBootCommand(cmd));
      expect(err).toBeInstanceOf(BootCommandError);
      expect(isKilnError(err, "KILN_BOOT_COMMAND")).toBe(true);
      expect(err.offset).toBe(offset);
      expect(err.group).toBe(0);
      expect(err.message).toMatch(message);
      expect(err.message).toContain(`boot_command at offset ${offset}`);
      expect(err.hint).toMatch(/<wait1m30s>/);
    });

    it("names the entry of a list", () => {
      const err = errorOf(() => parseBootCommand(["<enter>", "abc <wait1x>"]));
      expect(err.group).toBe(1);
      expect(err.offset).toBe(4);
      expect(err.length).toBe(8);
      expect(err.message).toMatch(/^boot_command\[1\] at offset 4: invalid wait <wait1x>/);
    });

    it("rejects characters a US keyboard cannot type, unless told not to check", () => {
      const err = errorOf(() => parseBootCommand("caf\u00e9"));
      expect(err.offset).toBe(3);
      expect(err.message).toMatch(/"é" \(U\+00E9\) cannot be typed on a US keyboard/);
      expect(errorOf(() => parseBootCommand("ok \u{1F600}")).message).toMatch(/U\+1F600/);
      expect(errorOf(() => parseBootCommand("<\u00e9On>")).offset).toBe(0);
      expect(bare(parseBootCommand("\u00e9", { checkTypable: false }))).toEqual([
        { type: "char", char: "é" },
      ]);
    });

    it("rejects an entry that is not a string", () => {
      expect(errorOf(() => parseBootCommand(["a", 5 as unknown as string])).message).toMatch(
        /boot_command\[1\] is not a string/,
      );
    });
  });

  it("formats actions for logs", () => {
    expect(
      parseBootCommand('a<enter><leftAltOn><leftAltOff><wait1m30s><wait500ms>"').map(formatBootAction),
    ).toEqual(['"a"', "<enter>", "<leftAltOn>", "<leftAltOff>", "<wait 90s>", "<wait 500ms>", '"\\""']);
  });
});
