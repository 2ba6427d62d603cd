/** The MBR reading behind LinkVolume to the host VM (pure), and device naming. */
import { describe, expect, it } from "vitest";
import { hostNode, mbrPartitions } from "./host-volumes.js";

const mbr = (entries: Array<[type: number, start: number, sectors: number]>, signed = true) => {
  const b = Buffer.alloc(512);
  entries.forEach(([type, start, sectors], i) => {
    const e = 446 + i * 16;
    b[e + 4] = type;
    b.writeUInt32LE(start, e + 8);
    b.writeUInt32LE(sectors, e + 12);
  });
  if (signed) {
    b[510] = 0x55;
    b[511] = 0xaa;
  }
  return b;
};

describe("host volumes", () => {
  it("reads the primary partitions at their byte offsets, skipping empty slots", () => {
    expect(
      mbrPartitions(
        mbr([
          [0x83, 2048, 4096],
          [0, 0, 0],
          [0x83, 8192, 100],
        ]),
      ),
    ).toEqual([
      { number: 1, offset: 2048 * 512, size: 4096 * 512 },
      { number: 3, offset: 8192 * 512, size: 100 * 512 },
    ]);
  });
  it("no signature, or a GPT protective entry: no partitions to map", () => {
    expect(mbrPartitions(mbr([[0x83, 2048, 4096]], false))).toEqual([]);
    expect(mbrPartitions(mbr([[0xee, 1, 1000]]))).toEqual([]);
  });
  it("names the node as Xen's udev does", () => {
    expect(hostNode("/dev/sdf")).toBe("/dev/xvdf");
    expect(hostNode("/dev/xvdg")).toBe("/dev/xvdg");
  });
});
