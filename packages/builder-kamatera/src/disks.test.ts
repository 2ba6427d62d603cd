import { describe, expect, it } from "vitest";
import { pickDisks } from "./disks.js";

const e = (uuid: string, sizeGB: number) => ({ uuid, sizeGB, child: null });

describe("pickDisks", () => {
  it("one entry per disk: in order", () => {
    expect(pickDisks([e("a", 20), e("b", 50)], [20, 50], "s")).toEqual([
      { uuid: "a", sizeGB: 20 },
      { uuid: "b", sizeGB: 50 },
    ]);
  });
  it("snapshot children flattened before their disk are skipped", () => {
    expect(
      pickDisks([e("c1", 20), e("c2", 20), e("a", 20), e("c3", 50), e("b", 50)], [20, 50], "s").map(
        (d) => d.uuid,
      ),
    ).toEqual(["a", "b"]);
  });
  it("adjacent disks of one size without snapshots are taken in order", () => {
    expect(pickDisks([e("a", 10), e("b", 10), e("c", 30)], [10, 10, 30], "s").map((d) => d.uuid)).toEqual([
      "a",
      "b",
      "c",
    ]);
  });
  it("says when it cannot tell, or when disks are missing or extra", () => {
    expect(() => pickDisks([e("c", 10), e("a", 10), e("b", 10)], [10, 10], "s")).toThrow(
      /cannot tell which entry/,
    );
    expect(() => pickDisks([e("a", 10)], [10, 20], "s")).toThrow(/has 1 disk\(s\).*asked for 2/);
    expect(() => pickDisks([e("a", 10), e("x", 99)], [10], "s")).toThrow(/entries beyond the disks/);
    expect(() => pickDisks({ uuid: "a" }, [10], "s")).toThrow(/is not a list/);
    expect(() => pickDisks([{ size: 1 }], [10], "s")).toThrow(/no uuid and sizeGB/);
  });
});
