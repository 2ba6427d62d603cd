/**
 * kiln's Debian 12 test image: a generic-cloud style disk built by `build.sh` from Debian
 * packages (see README.md). `ensureDebianImage()` builds it once into the cache and returns the
 * paths; later calls (and later runs, while build.sh and guest/ are unchanged) reuse it.
 */
import { spawn, spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

export interface DebianImage {
  /** The image: qcow2, compressed, 2 GiB virtual; boots with BIOS GRUB from its own disk. */
  disk: string;
  /** The cache directory holding it (and packages.txt, the installed package versions). */
  cacheDir: string;
}

export interface EnsureOptions {
  /** Rebuild even if a cached result exists. */
  force?: boolean;
  /** Receives build.sh's progress output (stderr), line by line. */
  log?: (line: string) => void;
}

export const DEBIAN_DIR: string = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
export const BUILD_SCRIPT: string = path.join(DEBIAN_DIR, "build.sh");

/** The user cloud-init creates (passwordless sudo, key login only), as on Debian's cloud images. */
export const DEFAULT_USER = "debian";

/** The host tools the build and the tests' boots need, with the Debian packages holding them. */
export const HOST_TOOLS: Record<string, string> = {
  mmdebstrap: "mmdebstrap",
  "mkfs.ext4": "e2fsprogs",
  sfdisk: "fdisk",
  "qemu-img": "qemu-utils",
  "qemu-system-x86_64": "qemu-system-x86",
  genisoimage: "genisoimage",
  ssh: "openssh-client",
  "ssh-keygen": "openssh-client",
};

/** Host tools from HOST_TOOLS that are not on PATH (sbin included: mkfs.ext4, sfdisk). */
export function missingHostTools(): string[] {
  const PATH = `${process.env.PATH ?? ""}:/usr/sbin:/sbin`;
  return Object.keys(HOST_TOOLS).filter(
    (t) =>
      spawnSync("sh", ["-c", `command -v ${t}`], { stdio: "ignore", env: { ...process.env, PATH } })
        .status !== 0,
  );
}

/** `apt-get install …` for the missing tools. */
export function installHint(missing: string[]): string {
  return `apt-get install ${[...new Set(missing.map((t) => HOST_TOOLS[t]))].join(" ")}`;
}

const pending = new Map<string, Promise<DebianImage>>();

/** Builds the image if needed (serialised per process and, via flock, across processes). */
export function ensureDebianImage(options: EnsureOptions = {}): Promise<DebianImage> {
  const key = `${process.env.KILN_DEBIAN_CACHE ?? ""}|${options.force ? "force" : ""}`;
  let p = pending.get(key);
  if (!p) {
    p = runBuild(options);
    pending.set(key, p);
    p.catch(() => pending.delete(key));
  }
  return p;
}

function runBuild(options: EnsureOptions): Promise<DebianImage> {
  return new Promise((resolve, reject) => {
    const args = [BUILD_SCRIPT];
    if (options.force) args.push("--force");
    const child = spawn("bash", args, {
      cwd: DEBIAN_DIR,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, PATH: `${process.env.PATH ?? ""}:/usr/sbin:/sbin` },
    });
    let out = "";
    let err = "";
    let partial = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      out += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      err += d;
      if (err.length > 200_000) err = err.slice(-100_000);
      if (options.log) {
        partial += d;
        const lines = partial.split("\n");
        partial = lines.pop() ?? "";
        for (const l of lines) options.log(l);
      }
    });
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0) {
        reject(new Error(`testbed/debian build.sh exited with ${code}:\n${err.slice(-4000)}`));
        return;
      }
      const kv = new Map<string, string>();
      for (const line of out.split("\n")) {
        const m = /^([a-z_]+)=(.+)$/.exec(line.trim());
        if (m?.[1] && m[2]) kv.set(m[1], m[2]);
      }
      const disk = kv.get("disk");
      const cacheDir = kv.get("cache_dir");
      if (!disk || !cacheDir) {
        reject(new Error(`testbed/debian build.sh did not print disk=… and cache_dir=…; stdout:\n${out}`));
        return;
      }
      resolve({ disk, cacheDir });
    });
  });
}
