import { describe, expect, it } from "vitest";
import { ChrootTeardown } from "./teardown.js";

describe("ChrootTeardown", () => {
  it("undoes in reverse, each entry once, the given ones or all", async () => {
    const t = new ChrootTeardown();
    const done: string[] = [];
    const a = t.add("detach", async () => void done.push("detach"));
    t.add("unmount", async () => void done.push("unmount"));
    const c = t.add("restore", async () => void done.push("restore"));
    await t.undo([a, c]);
    expect(done).toEqual(["restore", "detach"]);
    expect(t.pending()).toEqual(["unmount"]);
    await t.undo();
    await t.undo();
    expect(done).toEqual(["restore", "detach", "unmount"]);
  });

  it("tries every entry, keeps a failed one to be tried again, and throws only when strict", async () => {
    const t = new ChrootTeardown();
    let fail = true;
    const done: string[] = [];
    t.add("detach", async () => void done.push("detach"));
    t.add("unmount /mnt/x", async () => {
      if (fail) throw new Error("target is busy");
      done.push("unmount");
    });
    const reported: string[] = [];
    await t.undo(undefined, { report: (m) => reported.push(m) });
    expect(reported).toEqual(["unmount /mnt/x: target is busy"]);
    expect(done).toEqual(["detach"]);
    expect(t.pending()).toEqual(["unmount /mnt/x"]);
    await expect(t.undo(undefined, { strict: true })).rejects.toThrow(
      "could not undo unmount /mnt/x (target is busy)",
    );
    fail = false;
    await t.undo(undefined, { strict: true });
    expect(done).toEqual(["detach", "unmount"]);
    expect(t.pending()).toEqual([]);
  });
});
