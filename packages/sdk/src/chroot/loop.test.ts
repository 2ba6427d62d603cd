import { spawn } from "node:child_process";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chrootLeftovers, chrootSkip, makeDiskImage, removeTestDir } from "../testing/chroot.js";
import { hostCommands } from "./host.js";
import {
  attachImage,
  detachImage,
  loopAttached,
  newAttachment,
  parsePartx,
  partitionPath,
  readPartitions,
} from "./loop.js";

describe("partitions", () => {
  it("reads partx's pairs in bytes", () => {
    expect(
      parsePartx('NR="1" START="2048" SECTORS="4192256"\nNR="2" START="4194304" SECTORS="100"\n'),
    ).toEqual([
      { number: 1, start: 1048576, size: 2146435072 },
      { number: 2, start: 2147483648, size: 51200 },
    ]);
    expect(parsePartx("")).toEqual([]);
  });

  it("names partition nodes as the kernel does", () => {
    expect(partitionPath("/dev/xvdf", 1)).toBe("/dev/xvdf1");
    expect(partitionPath("/dev/sda", "2")).toBe("/dev/sda2");
    expect(partitionPath("/dev/loop3", 1)).toBe("/dev/loop3p1");
    expect(partitionPath("/dev/nvme1n1", 1)).toBe("/dev/nvme1n1p1");
  });
});

const skip = chrootSkip("loop device");

describe.skipIf(skip)("attachImage / detachImage (real loop devices)", () => {
  let dir: string;
  let image: string;
  let whole: string;
  const host = hostCommands();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kiln-loop-"));
    image = join(dir, "disk.raw");
    makeDiskImage(image, { sizeMiB: 32, files: { "etc/marker": "partitioned\n" } });
    whole = join(dir, "whole.raw");
    makeDiskImage(whole, { sizeMiB: 16, partitioned: false });
  });
  afterAll(() => {
    // Unmounts and detaches first, should a test have failed half-way; never rm -r over a mount.
    if (dir) removeTestDir(dir);
  });

  it("reads the image's partition table", async () => {
    expect(await readPartitions(host, image)).toEqual([{ number: 1, start: 1048576, size: 31 * 1048576 }]);
    expect(await readPartitions(host, whole)).toEqual([]);
  });

  for (const mode of ["scan", "offset"] as const) {
    it(`attaches the disk and its partition (${mode}) and detaches everything`, async () => {
      const a = await attachImage(host, image, { partitions: mode });
      try {
        expect(a.device).toMatch(/^\/dev\/loop[0-9]+$/);
        const part = a.partitions["1"] as string;
        expect(part).toBeDefined();
        if (mode === "scan") expect(part).toBe(`${a.device}p1`);
        else expect(a.loops).toEqual([a.device, part]);
        // The partition node really is the filesystem: blkid sees ext4 on it, not on the disk.
        expect((await host.run(`blkid -o value -s TYPE ${part}`)).stdout.trim()).toBe("ext4");
        expect(chrootLeftovers({ image }).loops.length).toBe(a.loops.length);
      } finally {
        await detachImage(host, a);
      }
      expect(chrootLeftovers({ image }).loops).toEqual([]);
      for (const l of a.loops) expect(await loopAttached(l)).toBe(false);
    });
  }

  it("attaches an image without a partition table as the whole device", async () => {
    const a = await attachImage(host, whole);
    expect(a.partitions).toEqual({});
    expect((await host.run(`blkid -o value -s TYPE ${a.device}`)).stdout.trim()).toBe("ext4");
    await detachImage(host, a);
    expect(chrootLeftovers({ image: whole }).loops).toEqual([]);
  });

  it("detaches a loop device losetup made although nobody learnt its name", async () => {
    const a = newAttachment(image, "offset");
    a.preexisting = [];
    // What an interrupt right after losetup leaves: a device the attachment does not list.
    await host.run(`losetup -f ${image}`);
    expect(chrootLeftovers({ image }).loops.length).toBe(1);
    await detachImage(host, a);
    expect(chrootLeftovers({ image }).loops).toEqual([]);
  });

  it("ends a process that holds a partition open, then detaches", async () => {
    for (const mode of ["scan", "offset"] as const) {
      const a = await attachImage(host, image, { partitions: mode });
      // e.g. a dd a pre_mount_command left running in the background
      const holder = spawn("sh", ["-c", `exec sleep 300 < ${a.partitions["1"]}`], { stdio: "ignore" });
      await new Promise((r) => setTimeout(r, 200));
      const seen: string[] = [];
      await detachImage(host, a, { log: (l) => seen.push(l) });
      expect(chrootLeftovers({ image }).loops).toEqual([]);
      expect(seen.join("\n")).toMatch(/was held open: ended sleep/);
      await new Promise<void>((r) =>
        holder.exitCode !== null || holder.signalCode !== null ? r() : holder.once("exit", () => r()),
      );
      expect(holder.signalCode).toBe("SIGTERM");
    }
  });

  it("leaves nothing attached when it is interrupted while attaching", async () => {
    for (const mode of ["scan", "offset"] as const) {
      for (const delay of [0, 5, 20, 60]) {
        const ctl = new AbortController();
        const a = newAttachment(image, mode);
        setTimeout(() => ctl.abort(), delay);
        await attachImage(host, image, { partitions: mode, signal: ctl.signal }, a).catch(() => {});
        await detachImage(host, a); // what the step's cleanup does
        expect(chrootLeftovers({ image }).loops).toEqual([]);
      }
    }
  });
});
