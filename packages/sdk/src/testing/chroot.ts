/**
 * Helpers for tests of chroot builders, which need root and loop devices: whether they can run
 * here, disk image files made with sfdisk and mkfs.ext4 (e2fsprogs, fdisk), a root whose programs
 * are this machine's own (/usr bound read-only), and what a test left behind (loop devices on its
 * image, mounts below its folder, processes running in it) for the assertions.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseMountInfo } from "../chroot/mounts.js";

const SBIN_PATH = `${process.env.PATH ?? ""}:/usr/sbin:/sbin`;

const has = (tool: string): boolean =>
  spawnSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore", env: { ...process.env, PATH: SBIN_PATH } })
    .status === 0;

/** Whether chroot tests can run: Linux, root, loop devices and the util-linux/e2fsprogs/fdisk tools. */
export function chrootAvailability(): { available: boolean; reason?: string } {
  if (process.platform !== "linux") return { available: false, reason: "chroot tests need Linux" };
  if (process.getuid?.() !== 0) return { available: false, reason: "chroot tests need root" };
  if (!existsSync("/dev/loop-control"))
    return { available: false, reason: "no loop devices (/dev/loop-control)" };
  const missing = ["losetup", "partx", "mount", "umount", "chroot", "sfdisk", "mkfs.ext4"].filter(
    (t) => !has(t),
  );
  if (missing.length > 0)
    return {
      available: false,
      reason: `missing ${missing.join(", ")} (apt-get install util-linux mount coreutils fdisk e2fsprogs)`,
    };
  return { available: true };
}

/** Whether a chroot suite skips: only when it cannot run here and CI is not set (under CI=true it runs, and fails). */
export function chrootSkip(suite: string): boolean {
  const a = chrootAvailability();
  const skip = !a.available && process.env.CI !== "true";
  // biome-ignore lint/suspicious/noConsole: tell the developer why a suite is skipped
  if (skip) console.warn(`[kiln] skipping the ${suite} tests: ${a.reason}`);
  return skip;
}

export interface DiskImageOptions {
  /** Size in MiB (default 64). */
  sizeMiB?: number;
  /** An MBR with one Linux partition from 1 MiB (default true); false: the filesystem is the whole file. */
  partitioned?: boolean;
  /** Files put in the filesystem (relative path → content); folders are made as needed. */
  files?: Record<string, string>;
  /** Symbolic links put in the filesystem (relative path → target). */
  links?: Record<string, string>;
  /** Where the content is staged (default: beside the image). */
  stagingDir?: string;
}

/** Make a raw disk image holding an ext4 filesystem (mkfs.ext4 -d), partitioned or not. */
export function makeDiskImage(path: string, o: DiskImageOptions = {}): void {
  const size = o.sizeMiB ?? 64;
  const staging = o.stagingDir ?? `${path}.content`;
  mkdirSync(staging, { recursive: true });
  for (const [rel, text] of Object.entries(o.files ?? {})) {
    mkdirSync(join(staging, rel, ".."), { recursive: true });
    writeFileSync(join(staging, rel), text);
  }
  for (const [rel, target] of Object.entries(o.links ?? {})) {
    mkdirSync(join(staging, rel, ".."), { recursive: true });
    symlinkSync(target, join(staging, rel));
  }
  const env = { ...process.env, PATH: SBIN_PATH };
  execFileSync("truncate", ["-s", `${size}M`, path], { env });
  if (o.partitioned !== false) {
    execFileSync("sfdisk", ["-q", path], { input: "label: dos\nstart=2048, type=83\n", env });
    execFileSync("mkfs.ext4", ["-q", "-F", "-d", staging, "-E", "offset=1048576", path, `${size - 1}M`], {
      env,
    });
  } else {
    execFileSync("mkfs.ext4", ["-q", "-F", "-d", staging, path], { env });
  }
  execFileSync("rm", ["-rf", staging]);
}

/**
 * Make `dir` a root whose programs are this machine's: /usr bound read-only, bin/sbin/lib/lib64
 * as on a merged-/usr system, its own etc, tmp, root and dev (with null). Returns how to undo the
 * bind mount.
 */
export function makeHostRoot(dir: string): () => void {
  for (const d of ["usr", "etc", "tmp", "root", "dev", "proc"]) mkdirSync(join(dir, d), { recursive: true });
  for (const l of ["bin", "sbin", "lib", "lib64"]) {
    let target = `usr/${l}`;
    try {
      target = readlinkSync(`/${l}`).replace(/^\//, "");
    } catch {
      // not a link on this machine
    }
    if (existsSync(`/${l}`)) symlinkSync(target, join(dir, l));
  }
  writeFileSync(join(dir, "etc", "hostname"), "kiln-test-root\n");
  execFileSync("mknod", ["-m", "666", join(dir, "dev", "null"), "c", "1", "3"]);
  execFileSync("mount", ["--bind", "/usr", join(dir, "usr")], { env: { ...process.env, PATH: SBIN_PATH } });
  execFileSync("mount", ["-o", "remount,bind,ro", join(dir, "usr")], {
    env: { ...process.env, PATH: SBIN_PATH },
  });
  return () => {
    spawnSync("umount", ["-R", join(dir, "usr")], { env: { ...process.env, PATH: SBIN_PATH } });
  };
}

/** What is left of a test: loop devices on `image`, mounts at or below `dir`, processes whose root is in `dir`. */
export function chrootLeftovers(o: { image?: string; dir?: string }): {
  loops: string[];
  mounts: string[];
  processes: number[];
} {
  const loops = o.image
    ? execFileSync("losetup", ["-j", o.image, "-O", "NAME", "-n"], {
        env: { ...process.env, PATH: SBIN_PATH },
      })
        .toString()
        .split("\n")
        .map((l) => l.trim())
        .filter(Boolean)
    : [];
  const dir = o.dir;
  const mounts = dir
    ? parseMountInfo(readFileSync("/proc/self/mountinfo", "utf8"))
        .map((m) => m.target)
        .filter((t) => t === dir || t.startsWith(`${dir}/`))
    : [];
  const processes: number[] = [];
  if (dir) {
    for (const pid of execFileSync("ls", ["/proc"]).toString().split("\n")) {
      if (!/^[0-9]+$/.test(pid)) continue;
      try {
        const root = readlinkSync(`/proc/${pid}/root`);
        if (root === dir || root.startsWith(`${dir}/`)) processes.push(Number(pid));
      } catch {
        // gone, or not readable
      }
    }
  }
  return { loops, mounts, processes };
}

/**
 * Remove a test's folder safely: first unmount whatever is still mounted below it (lazily) and
 * detach loop devices backed by files in it, and only then delete it — `rm -r` over a bound /dev
 * would delete this machine's device nodes. Throws rather than delete a folder that still holds a mount.
 */
export function removeTestDir(dir: string): void {
  const env = { ...process.env, PATH: SBIN_PATH };
  const mounted = () =>
    parseMountInfo(readFileSync("/proc/self/mountinfo", "utf8"))
      .map((m) => m.target)
      .filter((t) => t === dir || t.startsWith(`${dir}/`));
  for (const t of mounted().reverse()) spawnSync("umount", ["-l", t], { env });
  const loops = spawnSync("losetup", ["-l", "-O", "NAME,BACK-FILE", "-n"], { env }).stdout?.toString() ?? "";
  for (const line of loops.split("\n")) {
    const [name, back] = line.trim().split(/\s+/);
    if (name && back?.startsWith(`${dir}/`)) spawnSync("losetup", ["-d", name], { env });
  }
  const left = mounted();
  if (left.length > 0) throw new Error(`not removing ${dir}: still mounted there: ${left.join(", ")}`);
  execFileSync("rm", ["-rf", "--one-file-system", dir]);
}
