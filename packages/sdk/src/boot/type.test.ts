import { describe, expect, it } from "vitest";
import { parseBootCommand } from "./parse.js";
import { type KeyDriver, type TypeProgress, typeBootCommand } from "./type.js";

function recorder(options: { holds?: boolean; failOn?: string } = {}) {
  const log: string[] = [];
  const driver: KeyDriver = {
    keyInterval: 0,
    async press(keys) {
      if (options.failOn && keys.includes(options.failOn)) throw new Error(`cannot press ${options.failOn}`);
      log.push(`press ${keys.join("+")}`);
    },
    ...(options.holds === false
      ? {}
      : {
          async down(key: string) {
            log.push(`down ${key}`);
          },
          async up(key: string) {
            log.push(`up ${key}`);
          },
        }),
  };
  return { log, driver };
}

describe("typeBootCommand", () => {
  it("presses characters and special keys in order", async () => {
    const { log, driver } = recorder();
    await typeBootCommand(parseBootCommand("aB!<enter><f1>"), driver);
    expect(log).toEqual(["press a", "press shift+b", "press shift+1", "press ret", "press f1"]);
  });

  it("holds modifiers with down/up when the driver has them", async () => {
    const { log, driver } = recorder();
    await typeBootCommand(parseBootCommand("<leftCtrlOn><leftAltOn><del><leftAltOff><leftCtrlOff>x"), driver);
    expect(log).toEqual(["down ctrl", "down alt", "press delete", "up alt", "up ctrl", "press x"]);
  });

  it("does not press shift twice when it is held", async () => {
    const { log, driver } = recorder();
    await typeBootCommand(parseBootCommand("<leftShiftOn>A<leftShiftOff>"), driver);
    expect(log).toEqual(["down shift", "press a", "up shift"]);
  });

  it("adds held keys to every press when the driver cannot hold", async () => {
    const { log, driver } = recorder({ holds: false });
    await typeBootCommand(
      parseBootCommand("<leftCtrlOn><leftAltOn><del><leftAltOff><leftCtrlOff>a<leftCtrlOn>C<leftCtrlOff>"),
      driver,
    );
    expect(log).toEqual(["press ctrl+alt+delete", "press a", "press ctrl+shift+c"]);
  });

  it("releases keys still held at the end, and when a press fails", async () => {
    const a = recorder();
    await typeBootCommand(parseBootCommand("<leftAltOn><leftShiftOn>x"), a.driver);
    expect(a.log).toEqual(["down alt", "down shift", "press x", "up shift", "up alt"]);
    const b = recorder({ failOn: "y" });
    await expect(typeBootCommand(parseBootCommand("<leftCtrlOn>y"), b.driver)).rejects.toThrow(
      "cannot press y",
    );
    expect(b.log).toEqual(["down ctrl", "up ctrl"]);
  });

  it("honours waits, the key interval and the group interval", async () => {
    const { log, driver } = recorder();
    const t0 = performance.now();
    await typeBootCommand(parseBootCommand("a<wait100ms>b"), driver);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(95);

    const t1 = performance.now();
    await typeBootCommand(parseBootCommand("abcd"), driver, { keyInterval: 30 });
    expect(performance.now() - t1).toBeGreaterThanOrEqual(115);

    const t2 = performance.now();
    await typeBootCommand(parseBootCommand(["a", "b", "c"]), driver, { groupInterval: 50 });
    expect(performance.now() - t2).toBeGreaterThanOrEqual(95);
    expect(log.filter((l) => l.startsWith("press")).length).toBe(2 + 4 + 3);
  });

  it("uses Packer's 100 ms key interval for a driver that names none", async () => {
    const presses: number[] = [];
    const t0 = performance.now();
    await typeBootCommand(parseBootCommand("ab"), {
      async press() {
        presses.push(performance.now() - t0);
      },
    });
    expect((presses[1] ?? 0) - (presses[0] ?? 0)).toBeGreaterThanOrEqual(95);
  });

  it("stops on abort, even in the middle of a long wait, and releases held keys", async () => {
    const { log, driver } = recorder();
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error("interrupted")), 50);
    const t0 = performance.now();
    await expect(
      typeBootCommand(parseBootCommand("<leftAltOn>a<wait10m>b"), driver, { signal: ac.signal }),
    ).rejects.toThrow("interrupted");
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(log).toEqual(["down alt", "press a", "up alt"]);

    const done = new AbortController();
    done.abort(new Error("already"));
    await expect(typeBootCommand(parseBootCommand("a"), driver, { signal: done.signal })).rejects.toThrow(
      "already",
    );
  });

  it("reports progress after every action", async () => {
    const { driver } = recorder();
    const seen: TypeProgress[] = [];
    await typeBootCommand(parseBootCommand("a<enter><wait1ms>"), driver, { onProgress: (p) => seen.push(p) });
    expect(seen.map((p) => [p.done, p.total, p.action.type])).toEqual([
      [1, 3, "char"],
      [2, 3, "key"],
      [3, 3, "wait"],
    ]);
  });

  it("flushes the driver before waits and at the end", async () => {
    const log: string[] = [];
    await typeBootCommand(parseBootCommand("a<wait1ms>b"), {
      keyInterval: 0,
      async press(k) {
        log.push(k.join("+"));
      },
      async flush() {
        log.push("flush");
      },
    });
    expect(log).toEqual(["a", "flush", "b", "flush"]);
  });
});
