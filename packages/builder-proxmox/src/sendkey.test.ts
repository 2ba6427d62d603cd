/** The Proxmox sendkey keyboard (moved here from @kiln/sdk's boot tests, assertions unchanged). */
import { type BootAction, parseBootCommand, typeBootCommand } from "@kiln/sdk";
import { describe, expect, it } from "vitest";
import { createSendkeyDriver, toProxmoxSendkey } from "./sendkey.js";

describe("Proxmox sendkey strings", () => {
  const first = (cmd: string): BootAction => {
    const a = parseBootCommand(cmd)[0];
    if (!a) throw new Error(`no action in ${cmd}`);
    return a;
  };
  const one = (cmd: string, held: string[] = []) => toProxmoxSendkey(first(cmd), held);

  it("renders characters and special keys", () => {
    expect(one("a")).toBe("a");
    expect(one("A")).toBe("shift-a");
    expect(one("!")).toBe("shift-1");
    expect(one(" ")).toBe("spc");
    expect(one("/")).toBe("slash");
    expect(one("<enter>")).toBe("ret");
    expect(one("<pageDown>")).toBe("pgdn");
    expect(one("<del>")).toBe("delete");
    expect(one("<f10>")).toBe("f10");
  });

  it("prefixes held keys, without repeating one already held", () => {
    expect(one("<del>", ["ctrl", "alt"])).toBe("ctrl-alt-delete");
    expect(one("A", ["shift"])).toBe("shift-a");
    expect(one("c", ["ctrl"])).toBe("ctrl-c");
    expect(one("C", ["ctrl"])).toBe("ctrl-shift-c");
  });

  it("renders nothing for waits and holds", () => {
    expect(one("<wait>")).toBeUndefined();
    expect(one("<leftAltOn>")).toBeUndefined();
  });
});

describe("the sendkey driver", () => {
  it("adds held keys to every press when the driver cannot hold (Proxmox)", async () => {
    const sent: string[] = [];
    const driver = createSendkeyDriver(
      async (k) => {
        sent.push(k);
      },
      { keyInterval: 0 },
    );
    await typeBootCommand(
      parseBootCommand("<leftCtrlOn><leftAltOn><del><leftAltOff><leftCtrlOff>a<leftCtrlOn>C<leftCtrlOff>"),
      driver,
    );
    expect(sent).toEqual(["ctrl-alt-delete", "a", "ctrl-shift-c"]);
  });

  it("waits 100 ms after each key unless told otherwise", () => {
    expect(createSendkeyDriver(async () => {}).keyInterval).toBe(100);
    expect(createSendkeyDriver(async () => {}, { keyInterval: 5 }).keyInterval).toBe(5);
  });
});
