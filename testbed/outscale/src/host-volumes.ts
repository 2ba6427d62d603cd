/**
 * Volumes linked to the *host* VM (the machine kiln runs on, for outscale-chroot): what the
 * hypervisor and the guest's udev would do, done on this machine as root. LinkVolume attaches the
 * volume's file as a loop device and makes `/dev/xvdX` (a symlink to it), plus one loop per MBR
 * partition at its offset with `/dev/xvdX<n>` — loop partition scanning is off on these machines
 * (RESEARCH.md §2.10). UnlinkVolume refuses while any of them is mounted (as a busy device
 * fails on OUTSCALE), else removes the nodes and detaches the loops.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";

export interface MbrPartition {
  number: number;
  offset: number;
  size: number;
}

/** The primary partitions of an MBR disk image (empty when there is no MBR). Pure. */
export function mbrPartitions(head: Buffer): MbrPartition[] {
  if (head.length < 512 || head[510] !== 0x55 || head[511] !== 0xaa) return [];
  const out: MbrPartition[] = [];
  for (let i = 0; i < 4; i++) {
    const e = 446 + i * 16;
    const type = head[e + 4];
    const start = head.readUInt32LE(e + 8);
    const sectors = head.readUInt32LE(e + 12);
    if (!type || !sectors || type === 0xee) continue;
    out.push({ number: i + 1, offset: start * 512, size: sectors * 512 });
  }
  return out;
}

/** The node path a device name of the API gets on the host (/dev/xvdf stays; /dev/sdf → /dev/xvdf, as on Xen). */
export const hostNode = (apiDevice: string) => apiDevice.replace(/^\/dev\/sd/, "/dev/xvd");

interface Linked {
  file: string;
  nodes: string[];
  loops: string[];
}

const SLEEP = new Int32Array(new SharedArrayBuffer(4));
const losetup = (args: string[]) => execFileSync("losetup", args, { encoding: "utf8" }).trim();

export class HostVolumes {
  private readonly linked = new Map<string, Linked>();

  attach(file: string, apiDevice: string): void {
    const node = hostNode(apiDevice);
    if (fs.existsSync(node)) throw new Error(`${node} exists on this machine already`);
    const l: Linked = { file, nodes: [], loops: [] };
    this.linked.set(apiDevice, l);
    try {
      const whole = losetup(["-f", "--show", file]);
      l.loops.push(whole);
      fs.symlinkSync(whole, node);
      l.nodes.push(node);
      const head = Buffer.alloc(512);
      const fd = fs.openSync(file, "r");
      try {
        fs.readSync(fd, head, 0, 512, 0);
      } finally {
        fs.closeSync(fd);
      }
      for (const p of mbrPartitions(head)) {
        const loop = losetup(["-f", "--show", "-o", String(p.offset), "--sizelimit", String(p.size), file]);
        l.loops.push(loop);
        fs.symlinkSync(loop, `${node}${p.number}`);
        l.nodes.push(`${node}${p.number}`);
      }
    } catch (e) {
      this.release(apiDevice);
      throw e;
    }
  }

  /** Whether any loop of the device is mounted (then UnlinkVolume fails). */
  busy(apiDevice: string): boolean {
    const l = this.linked.get(apiDevice);
    if (!l) return false;
    const mounts = fs.readFileSync("/proc/self/mountinfo", "utf8");
    return l.loops.some((loop) =>
      mounts.split("\n").some((line) => line.split(" - ")[1]?.split(" ")[1] === loop),
    );
  }

  detach(apiDevice: string): void {
    if (this.busy(apiDevice)) throw new Error(`${hostNode(apiDevice)} is in use (mounted)`);
    this.release(apiDevice);
  }

  private release(apiDevice: string): void {
    const l = this.linked.get(apiDevice);
    if (!l) return;
    for (const n of l.nodes.reverse()) fs.rmSync(n, { force: true });
    for (const loop of l.loops.reverse())
      try {
        losetup(["-d", loop]);
      } catch {
        // gone already
      }
    // A loop another process still holds open (udev probing it) goes only when that one lets go:
    // wait for it, as a hypervisor's detach completes before the API says "available".
    const end = Date.now() + 10_000;
    while (losetup(["-j", l.file]) !== "" && Date.now() < end) Atomics.wait(SLEEP, 0, 0, 50);
    this.linked.delete(apiDevice);
  }

  /** Nodes and loop devices still there (leftovers). */
  left(): string[] {
    return [...this.linked.values()].flatMap((l) => [...l.nodes, ...l.loops]);
  }

  close(): void {
    for (const d of [...this.linked.keys()]) this.release(d);
  }
}
