import { describe, expect, it } from "vitest";
import { entryHeader } from "./tar.js";

describe("tar headers", () => {
  it("use a pax size record and GNU base-256 for files of 8 GiB and more", () => {
    const size = 2 ** 33 + 5;
    const blocks = entryHeader({ name: "disk.raw", mode: 0o644, uid: 0, gid: 0, size, mtime: 0, type: "0" });
    const all = Buffer.concat(blocks);
    expect(all.length).toBe(3 * 512); // pax header, pax data (padded), ustar header
    expect(all.subarray(156, 157).toString("latin1")).toBe("x");
    expect(all.subarray(512, 512 + 19).toString("utf8")).toBe("19 size=8589934597\n"); // the length counts itself
    const header = all.subarray(1024);
    expect(header[124]).toBe(0x80);
    expect(header.readBigUInt64BE(124 + 4)).toBe(BigInt(size));
    // The header checksum is the sum of the bytes with the checksum field as spaces.
    const copy = Buffer.from(header);
    copy.fill(0x20, 148, 156);
    const sum = copy.reduce((a, b) => a + b, 0);
    expect(header.subarray(148, 154).toString("latin1")).toBe(sum.toString(8).padStart(6, "0"));
  });

  it("fit small entries in one ustar block, splitting long paths at a slash", () => {
    const name = `${"d".repeat(90)}/${"f".repeat(90)}`;
    const blocks = entryHeader({
      name,
      mode: 0o755,
      uid: 1000,
      gid: 1000,
      size: 10,
      mtime: 1_700_000_000,
      type: "0",
    });
    expect(blocks).toHaveLength(1);
    const h = blocks[0] as Buffer;
    expect(h.subarray(0, 90).toString()).toBe("f".repeat(90));
    expect(h.subarray(345, 435).toString()).toBe("d".repeat(90));
    expect(h.subarray(257, 263).toString("latin1")).toBe("ustar\0");
    expect(h.subarray(124, 136).toString("latin1")).toBe("00000000012\0");
  });
});
