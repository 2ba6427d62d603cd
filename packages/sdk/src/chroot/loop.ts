/**
 * Disk image files as block devices: `losetup -f --show` attaches one to a free loop device.
 * Partitions come one of two ways. `scan`: the loop device with partition scanning (`-P`), and
 * when the kernel finds no table (some kernels read no MBR themselves) util-linux's `partx -a`
 * adds the partitions it reads, as /dev/loopNpM. `offset`: one more loop device per partition,
 * over just its bytes (`-o START --sizelimit SIZE`), for hosts where neither works. The table is
 * read with `partx` (util-linux) in both cases. There is no nbd here: a qcow2 is converted first.
 */
import { readdir, stat } from "node:fs/promises";
import { basename } from "node:path";
import { abortableSleep, KilnError } from "@kiln/core";
import { type HostCommands, interrupted } from "./host.js";
import { killProcessesUsing } from "./processes.js";
import { shellWord } from "./spawn.js";

export interface Partition {
  /** Its number (1 for the first). */
  number: number;
  /** Offset and size in bytes. */
  start: number;
  size: number;
}

/** Parse `partx -g -P -o NR,START,SECTORS` (sectors of 512 bytes). */
export function parsePartx(text: string): Partition[] {
  const out: Partition[] = [];
  for (const line of text.split("\n")) {
    const f: Record<string, string> = {};
    for (const m of line.matchAll(/([A-Z]+)="([^"]*)"/g)) f[m[1] as string] = m[2] as string;
    if (!f.NR || !f.START || !f.SECTORS) continue;
    out.push({ number: Number(f.NR), start: Number(f.START) * 512, size: Number(f.SECTORS) * 512 });
  }
  return out;
}

/** The partitions of an image file or device (empty when it has no partition table). */
export async function readPartitions(
  host: HostCommands,
  file: string,
  signal?: AbortSignal,
): Promise<Partition[]> {
  const r = await host.run(`partx -g -P -o NR,START,SECTORS ${shellWord(file)}`, {
    allowFailure: true,
    ...(signal ? { signal } : {}),
  });
  return r.code === 0 ? parsePartx(r.stdout) : [];
}

/** The node of partition `n` of `device`: /dev/xvdf → /dev/xvdf1, /dev/loop3 or /dev/nvme1n1 → …p1. */
export function partitionPath(device: string, n: number | string): string {
  return `${device}${/[0-9]$/.test(device) ? "p" : ""}${n}`;
}

/** Wait until `path` is a block device (a udev symlink to one counts); throws after `timeoutMs`. */
export async function waitForBlockDevice(
  path: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (signal?.aborted) throw interrupted(`waiting for ${path}`);
    try {
      if ((await stat(path)).isBlockDevice()) return;
    } catch {
      // not there yet
    }
    if (Date.now() >= deadline)
      throw new KilnError(
        "KILN_CHROOT_DEVICE",
        `${path} did not appear within ${Math.round(timeoutMs / 1000)}s`,
        {
          hint: "Check that the volume is attached (lsblk) and, for a partition, that the device has a partition table.",
        },
      );
    await abortableSleep(100, signal).catch(() => {
      throw interrupted(`waiting for ${path}`);
    });
  }
}

export type PartitionMode = "scan" | "offset";

export interface AttachOptions {
  /** How partitions get their nodes (default scan). */
  partitions?: PartitionMode;
  readOnly?: boolean;
  signal?: AbortSignal;
  /** How long partition nodes may take to appear (default 10 s). */
  timeoutMs?: number;
}

/** An attached image: the whole-disk device, the partitions' nodes by number, and every loop device used. */
export interface AttachedImage {
  image: string;
  device: string;
  partitions: Record<string, string>;
  loops: string[];
  mode: PartitionMode;
  /** Loop devices that were backed by the image before (left alone on detach); undefined until known. */
  preexisting?: string[];
}

/** The loop devices backed by `file` now (`losetup -j`). */
export async function loopsOf(host: HostCommands, file: string): Promise<string[]> {
  const r = await host.run(`losetup -j ${shellWord(file)} -O NAME -n`, { allowFailure: true });
  return r.stdout
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.startsWith("/dev/"));
}

async function losetup(host: HostCommands, args: string, signal?: AbortSignal): Promise<string> {
  const r = await host.run(`losetup -f --show ${args}`, signal ? { signal } : {});
  const dev = r.stdout.trim().split("\n").pop() ?? "";
  if (!dev.startsWith("/dev/"))
    throw new KilnError("KILN_CHROOT_DEVICE", `losetup printed no device (${r.stdout.trim() || "nothing"})`);
  return dev;
}

const exists = async (p: string): Promise<boolean> => {
  try {
    return (await stat(p)).isBlockDevice();
  } catch {
    return false;
  }
};

/** An attachment not made yet, to pass to {@link attachImage} (which fills it in as it goes). */
export function newAttachment(image: string, mode: PartitionMode = "scan"): AttachedImage {
  return { image, device: "", partitions: {}, loops: [], mode };
}

/**
 * Attach `image` as loop devices, filling in `attached` as each one exists (so that a caller
 * interrupted in between still knows what to detach: {@link detachImage} also finds a loop device
 * losetup made before it could say so). On failure what was attached is detached again.
 */
export async function attachImage(
  host: HostCommands,
  image: string,
  o: AttachOptions = {},
  attached: AttachedImage = newAttachment(image, o.partitions),
): Promise<AttachedImage> {
  const mode = attached.mode;
  const ro = o.readOnly ? "-r " : "";
  const table = await readPartitions(host, image, o.signal);
  attached.preexisting = await loopsOf(host, image);
  try {
    if (mode === "offset") {
      attached.device = await losetup(host, `${ro}${shellWord(image)}`, o.signal);
      attached.loops.push(attached.device);
      for (const p of table) {
        const dev = await losetup(
          host,
          `${ro}-o ${p.start} --sizelimit ${p.size} ${shellWord(image)}`,
          o.signal,
        );
        attached.loops.push(dev);
        attached.partitions[String(p.number)] = dev;
      }
    } else {
      attached.device = await losetup(host, `${ro}-P ${shellWord(image)}`, o.signal);
      attached.loops.push(attached.device);
      const timeout = o.timeoutMs ?? 10_000;
      if (table.length > 0) {
        const first = partitionPath(attached.device, (table[0] as Partition).number);
        // The kernel's own scan, given a moment; else util-linux reads the table and adds the partitions.
        for (let i = 0; i < 10 && !(await exists(first)); i++) await abortableSleep(50);
        if (!(await exists(first)))
          await host.run(`partx -a ${shellWord(attached.device)}`, { allowFailure: true });
        for (const p of table) {
          const node = partitionPath(attached.device, p.number);
          await waitForBlockDevice(node, timeout, o.signal);
          attached.partitions[String(p.number)] = node;
        }
      }
    }
    return attached;
  } catch (err) {
    await detachImage(host, attached).catch(() => {});
    throw err;
  }
}

/** Whether a loop device is still attached to a file (its sysfs backing_file is there). */
export async function loopAttached(device: string): Promise<boolean> {
  try {
    await stat(`/sys/block/${basename(device)}/loop/backing_file`);
    return true;
  } catch {
    return false;
  }
}

/** The partition nodes the kernel has for a loop device (/dev/loop3p1 …). */
async function partitionNodes(device: string): Promise<string[]> {
  const name = basename(device);
  const entries = await readdir(`/sys/block/${name}`).catch(() => [] as string[]);
  return entries.filter((e) => e.startsWith(`${name}p`)).map((e) => `/dev/${e}`);
}

/**
 * Detach loop devices (the partitions' first, the whole disk last). A device still open is only
 * marked by the kernel to detach once it is free: this waits for that, ends the processes that
 * hold it (or one of its partitions) open after a second, and fails if it is still attached after
 * `timeoutMs`.
 */
export async function detachImage(
  host: HostCommands,
  attached: Pick<AttachedImage, "image" | "loops" | "mode" | "device" | "preexisting">,
  o: { timeoutMs?: number; log?: (line: string) => void } = {},
): Promise<void> {
  const timeoutMs = o.timeoutMs ?? 10_000;
  // Also a loop device losetup made just as an interrupt stopped it, before it printed the name.
  const before = attached.preexisting;
  const stray = before
    ? (await loopsOf(host, attached.image)).filter((d) => !before.includes(d) && !attached.loops.includes(d))
    : [];
  const loops = [...attached.loops, ...stray].reverse();
  if (attached.mode === "scan" && attached.device && (await loopAttached(attached.device)))
    await host.run(`partx -d ${shellWord(attached.device)}`, { allowFailure: true });
  const failures: string[] = [];
  for (const dev of loops) {
    if (!(await loopAttached(dev))) continue;
    const start = Date.now();
    let ended = false;
    for (;;) {
      const r = await host.run(`losetup -d ${shellWord(dev)}`, { allowFailure: true });
      if (!(await loopAttached(dev))) break;
      if (!ended && Date.now() - start >= 1000) {
        ended = true;
        for (const node of [dev, ...(await partitionNodes(dev))]) {
          const users = await killProcessesUsing(node);
          if (users.length > 0)
            o.log?.(
              `${node} was held open: ended ${users.map((u) => `${u.name} (pid ${u.pid})`).join(", ")}`,
            );
        }
      }
      if (Date.now() - start >= timeoutMs) {
        failures.push(`${dev} (${(r.stderr || "still in use").trim()})`);
        break;
      }
      await abortableSleep(200);
    }
  }
  if (failures.length > 0)
    throw new KilnError("KILN_CHROOT_DEVICE", `cannot detach ${failures.join(", ")}`, {
      hint: "Something still holds it (a mount elsewhere, a process); `losetup -a` and `lsblk` show it. Detach it with losetup -d.",
    });
}
