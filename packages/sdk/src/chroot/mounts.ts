/**
 * Mounting and, above all, unmounting: what is mounted is read from /proc/self/mountinfo; a
 * folder is unmounted with everything mounted below it, deepest (most recent) first. A busy mount
 * is retried, then the processes using it are ended, then it is detached lazily (`umount -l`) as
 * the last resort, so that the build never leaves a mount behind.
 */
import { readFile } from "node:fs/promises";
import { abortableSleep, KilnError } from "@kiln/core";
import type { HostCommands } from "./host.js";
import { killProcessesUsing } from "./processes.js";
import { shellWord } from "./spawn.js";

export interface MountEntry {
  id: number;
  parent: number;
  /** Where it is mounted (escapes such as \040 decoded). */
  target: string;
  fstype: string;
  source: string;
  /** Per-mount options (rw, nosuid …) and the propagation fields (shared:N, master:N). */
  options: string;
  propagation: string[];
}

/** Decode the octal escapes mountinfo uses for space, tab, newline and backslash. */
export function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

/** Parse /proc/self/mountinfo text; lines it cannot read are skipped. */
export function parseMountInfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    const [left, right] = line.split(" - ");
    if (!left || !right) continue;
    const f = left.split(" ");
    const r = right.split(" ");
    if (f.length < 6 || r.length < 2) continue;
    out.push({
      id: Number(f[0]),
      parent: Number(f[1]),
      target: unescapeMountField(f[4] as string),
      options: f[5] as string,
      propagation: f.slice(6),
      fstype: r[0] as string,
      source: unescapeMountField(r[1] as string),
    });
  }
  return out;
}

export async function readMounts(): Promise<MountEntry[]> {
  return parseMountInfo(await readFile("/proc/self/mountinfo", "utf8"));
}

const under = (target: string, dir: string): boolean => target === dir || target.startsWith(`${dir}/`);

/** Mounts at or below `dir`, in the order to unmount them (the most recent first). */
export function mountsUnder(mounts: MountEntry[], dir: string): MountEntry[] {
  return mounts.filter((m) => under(m.target, dir)).reverse();
}

/** Whether something is mounted exactly at `dir`. */
export async function isMountPoint(dir: string): Promise<boolean> {
  return (await readMounts()).some((m) => m.target === dir);
}

export interface UnmountOptions {
  /** Tell what happens (busy mounts, processes ended, lazy unmounts). */
  log?: (line: string) => void;
  /** Attempts while the mount is busy, before processes using it are ended (default 3). */
  busyRetries?: number;
  /** Wait between busy attempts (default 500 ms). */
  retryDelayMs?: number;
  /** End processes that keep it busy (default true). */
  killUsers?: boolean;
  /** Detach it lazily when nothing else worked (default true). */
  lazyFallback?: boolean;
}

const isBusy = (stderr: string): boolean => /busy/i.test(stderr);

/**
 * Unmount one mount point. Resolves once it is no longer mounted; throws when even a lazy unmount
 * failed (or was not allowed).
 */
export async function unmount(host: HostCommands, target: string, o: UnmountOptions = {}): Promise<void> {
  const log = o.log ?? (() => {});
  const retries = o.busyRetries ?? 3;
  const delay = o.retryDelayMs ?? 500;
  const attempt = async (lazy = false): Promise<"done" | "busy" | string> => {
    const r = await host.run(`umount ${lazy ? "-l " : ""}${shellWord(target)}`, { allowFailure: true });
    if (r.code === 0) return "done";
    const err = (r.stderr || r.stdout).trim();
    // What the table says decides, not the message ("not mounted" could also be a missing umount).
    if (!(await isMountPoint(target))) return "done";
    return isBusy(err) ? "busy" : err || `umount exited with code ${r.code}`;
  };
  let last = "";
  for (let i = 0; i < retries; i++) {
    const r = await attempt();
    if (r === "done") return;
    last = r;
    if (r !== "busy") break;
    await abortableSleep(delay);
  }
  if (last === "busy" && o.killUsers !== false) {
    const users = await killProcessesUsing(target);
    if (users.length > 0) {
      log(`${target} was busy: ended ${users.map((u) => `${u.name} (pid ${u.pid}, ${u.how})`).join(", ")}`);
      for (let i = 0; i < retries; i++) {
        const r = await attempt();
        if (r === "done") return;
        last = r;
        if (r !== "busy") break;
        await abortableSleep(delay);
      }
    }
  }
  if (o.lazyFallback !== false) {
    const r = await attempt(true);
    if (r === "done") {
      log(`${target} was still busy (${last}); it was detached lazily (umount -l)`);
      return;
    }
    last = r;
  }
  throw new KilnError(
    "KILN_CHROOT_UNMOUNT",
    `cannot unmount ${target}: ${last === "busy" ? "it is busy" : last}`,
    {
      hint: "Something still uses it; `fuser -vm` on the folder shows what. Unmount it by hand.",
    },
  );
}

/** Unmount `dir` and everything mounted below it, the most recent first. */
export async function unmountTree(host: HostCommands, dir: string, o: UnmountOptions = {}): Promise<void> {
  // Each pass reads the table again: an unmount can reveal a mount it covered.
  for (let pass = 0; pass < 64; pass++) {
    const left = mountsUnder(await readMounts(), dir);
    if (left.length === 0) return;
    for (const m of left) await unmount(host, m.target, o);
  }
  throw new KilnError("KILN_CHROOT_UNMOUNT", `cannot unmount everything below ${dir}`);
}
