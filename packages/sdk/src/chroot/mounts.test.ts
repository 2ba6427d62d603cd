import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chrootLeftovers, chrootSkip, removeTestDir } from "../testing/chroot.js";
import { hostCommands } from "./host.js";
import {
  isMountPoint,
  mountsUnder,
  parseMountInfo,
  unescapeMountField,
  unmount,
  unmountTree,
} from "./mounts.js";
import { processesUsing } from "./processes.js";

const INFO = `22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
60 27 7:0 / /mnt/kiln\\040vol rw,relatime shared:5 - ext4 /dev/loop0p1 rw
61 60 0:21 / /mnt/kiln\\040vol/proc rw,relatime - proc proc rw
62 60 0:6 / /mnt/kiln\\040vol/dev rw master:2 - devtmpfs devtmpfs rw
63 62 0:24 / /mnt/kiln\\040vol/dev/pts rw - devpts devpts rw
64 27 7:1 / /mnt/kiln\\040volume rw - ext4 /dev/loop1 rw
`;

describe("mountinfo", () => {
  it("parses targets, types, sources and propagation, decoding escapes", () => {
    const m = parseMountInfo(INFO);
    expect(m).toHaveLength(7);
    expect(m[2]).toMatchObject({
      id: 60,
      parent: 27,
      target: "/mnt/kiln vol",
      fstype: "ext4",
      source: "/dev/loop0p1",
      propagation: ["shared:5"],
    });
    expect(unescapeMountField("a\\011b\\134c\\012")).toBe("a\tb\\c\n");
  });

  it("lists what is below a folder, the most recent first, and not its namesakes", () => {
    expect(mountsUnder(parseMountInfo(INFO), "/mnt/kiln vol").map((m) => m.target)).toEqual([
      "/mnt/kiln vol/dev/pts",
      "/mnt/kiln vol/dev",
      "/mnt/kiln vol/proc",
      "/mnt/kiln vol",
    ]);
  });
});

const skip = chrootSkip("unmount");

describe.skipIf(skip)("unmount (real mounts)", () => {
  let dir: string;
  const host = hostCommands();
  const children: ChildProcess[] = [];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kiln-mounts-"));
  });
  afterAll(async () => {
    for (const c of children) c.kill("SIGKILL");
    await unmountTree(host, dir).catch(() => {});
    if (dir) removeTestDir(dir);
  });

  const tmpfs = async (name: string): Promise<string> => {
    const p = join(dir, name);
    await mkdir(p, { recursive: true });
    await host.run(`mount -t tmpfs kiln-test ${p}`);
    return p;
  };

  /** A process of this machine (not in a chroot) that keeps `folder` busy as its working folder. */
  const holder = async (folder: string): Promise<ChildProcess> => {
    const c = spawn("sleep", ["300"], { cwd: folder, stdio: "ignore" });
    children.push(c);
    for (let i = 0; i < 50 && (await processesUsing(folder)).length === 0; i++)
      await new Promise((r) => setTimeout(r, 20));
    return c;
  };

  it("unmounts a folder and everything below it", async () => {
    const top = await tmpfs("tree");
    await mkdir(join(top, "a", "b"), { recursive: true });
    await host.run(`mount -t tmpfs kiln-test ${join(top, "a")}`);
    await mkdir(join(top, "a", "b"), { recursive: true });
    await host.run(`mount -t tmpfs kiln-test ${join(top, "a", "b")}`);
    await host.run(`mount -t tmpfs kiln-test ${join(top, "a", "b")}`); // stacked on the same folder
    expect(chrootLeftovers({ dir: top }).mounts).toHaveLength(4);
    await unmountTree(host, top);
    expect(chrootLeftovers({ dir: top }).mounts).toEqual([]);
  });

  it("ends the processes that keep a mount busy, then unmounts it", async () => {
    const m = await tmpfs("busy");
    const c = await holder(m);
    const seen: string[] = [];
    await unmount(host, m, { log: (l) => seen.push(l), retryDelayMs: 50 });
    expect(await isMountPoint(m)).toBe(false);
    expect(seen.join("\n")).toMatch(new RegExp(`busy: ended sleep \\(pid ${c.pid}, cwd\\)`));
    await new Promise<void>((r) =>
      c.exitCode !== null || c.signalCode !== null ? r() : c.once("exit", () => r()),
    );
    expect(c.signalCode).toBe("SIGTERM");
  });

  it("detaches a busy mount lazily when it may not end processes", async () => {
    const m = await tmpfs("lazy");
    const c = await holder(m);
    const seen: string[] = [];
    await unmount(host, m, { log: (l) => seen.push(l), retryDelayMs: 50, killUsers: false });
    expect(await isMountPoint(m)).toBe(false);
    expect(seen.join("\n")).toMatch(/detached lazily/);
    expect(c.exitCode === null && c.signalCode === null).toBe(true); // still running
    c.kill("SIGKILL");
  });

  it("fails clearly when it may neither end processes nor detach lazily", async () => {
    const m = await tmpfs("stuck");
    const c = await holder(m);
    await expect(
      unmount(host, m, { retryDelayMs: 20, busyRetries: 2, killUsers: false, lazyFallback: false }),
    ).rejects.toThrow(`cannot unmount ${m}: it is busy`);
    c.kill("SIGKILL");
    await new Promise((r) => c.once("exit", r));
    await unmount(host, m);
    expect(await isMountPoint(m)).toBe(false);
  });

  it("takes a folder that is not mounted as done", async () => {
    await mkdir(join(dir, "plain"));
    await unmount(host, join(dir, "plain"));
  });
});
