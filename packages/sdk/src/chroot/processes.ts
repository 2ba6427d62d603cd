/**
 * Finding and ending the processes that use a folder (a chroot, a mount): those whose root,
 * working folder or program is in it, or that hold a file in it open or mapped. Read from /proc
 * by hand, as `fuser -m`/`lsof +D` would (psmisc and lsof may not be installed); a process that
 * cannot be read (gone, or another user's when kiln is not root) is skipped.
 */
import { readdir, readFile, readlink } from "node:fs/promises";
import { abortableSleep } from "@kiln/core";

export interface FolderUser {
  pid: number;
  /** The program's name (/proc/PID/comm). */
  name: string;
  /** How it uses the folder: root, cwd, exe, fd, map. */
  how: string;
}

const within = (p: string, dir: string): boolean => p === dir || p.startsWith(dir === "/" ? "/" : `${dir}/`);

async function link(p: string): Promise<string | undefined> {
  try {
    return (await readlink(p)).replace(/ \(deleted\)$/, "");
  } catch {
    return undefined;
  }
}

/** How a process may use a folder: its root (it runs in a chroot there), or any use at all. */
export type FolderUse = "root" | "any";

async function usesFolder(pid: string, dir: string, use: FolderUse): Promise<string | undefined> {
  const base = `/proc/${pid}`;
  for (const what of use === "root" ? (["root"] as const) : (["root", "cwd", "exe"] as const)) {
    const target = await link(`${base}/${what}`);
    if (target !== undefined && within(target, dir)) return what;
  }
  if (use === "root") return undefined;
  let fds: string[] = [];
  try {
    fds = await readdir(`${base}/fd`);
  } catch {
    // not ours to read, or gone
  }
  for (const fd of fds) {
    const target = await link(`${base}/fd/${fd}`);
    if (target?.startsWith("/") && within(target, dir)) return "fd";
  }
  try {
    const maps = await readFile(`${base}/maps`, "utf8");
    for (const line of maps.split("\n")) {
      const i = line.indexOf("/");
      if (i >= 0 && within(line.slice(i).replace(/ \(deleted\)$/, ""), dir)) return "map";
    }
  } catch {
    // not ours to read, or gone
  }
  return undefined;
}

/** The processes (other than this one) that use `dir` (an absolute path without a trailing /). */
export async function processesUsing(dir: string, use: FolderUse = "any"): Promise<FolderUser[]> {
  const found: FolderUser[] = [];
  for (const pid of await readdir("/proc")) {
    if (!/^[0-9]+$/.test(pid) || Number(pid) === process.pid) continue;
    const how = await usesFolder(pid, dir, use);
    if (!how) continue;
    let name = "?";
    try {
      name = (await readFile(`/proc/${pid}/comm`, "utf8")).trim();
    } catch {
      continue; // gone meanwhile
    }
    found.push({ pid: Number(pid), name, how });
  }
  return found;
}

/**
 * End every process that uses `dir` (`use`: any way, or only those running in a chroot there):
 * SIGTERM, then SIGKILL to those still there after `graceMs`. Returns what was found at first
 * (empty when nothing used it).
 */
export async function killProcessesUsing(
  dir: string,
  use: FolderUse = "any",
  graceMs = 2000,
): Promise<FolderUser[]> {
  const first = await processesUsing(dir, use);
  if (first.length === 0) return first;
  const signal = (pids: number[], sig: NodeJS.Signals) => {
    for (const pid of pids) {
      try {
        process.kill(pid, sig);
      } catch {
        // gone
      }
    }
  };
  signal(
    first.map((p) => p.pid),
    "SIGTERM",
  );
  const deadline = Date.now() + graceMs;
  let left = first;
  while (Date.now() < deadline) {
    await abortableSleep(100);
    left = await processesUsing(dir, use);
    if (left.length === 0) return first;
  }
  signal(
    left.map((p) => p.pid),
    "SIGKILL",
  );
  // SIGKILL is not ignorable, but the process is gone only once its parent reaped it or it was reparented.
  for (let i = 0; i < 20 && (await processesUsing(dir, use)).length > 0; i++) await abortableSleep(100);
  return first;
}
