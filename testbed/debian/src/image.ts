/**
 * kiln's Debian 12 test image: a generic-cloud style disk built by `build.sh` from Debian
 * packages (see README.md). `ensureDebianImage()` builds it once into the cache and returns the
 * paths; later calls (and later runs, while build.sh and guest/ are unchanged) reuse it.
 */
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type BuildScriptOptions, resultOf, runBuildScript } from "@kiln-testbed/appliance/build-script";

export interface DebianImage {
  /** The image: qcow2, compressed, 2 GiB virtual; boots with BIOS GRUB from its own disk. */
  disk: string;
  /** The cache directory holding it (and packages.txt, the installed package versions). */
  cacheDir: string;
}

export type EnsureOptions = BuildScriptOptions;

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

/** Builds the image if needed (serialised per process and, via flock, across processes). */
export async function ensureDebianImage(options: EnsureOptions = {}): Promise<DebianImage> {
  const label = "testbed/debian build.sh";
  const kv = await runBuildScript(
    {
      script: BUILD_SCRIPT,
      cwd: DEBIAN_DIR,
      label,
      env: { PATH: `${process.env.PATH ?? ""}:/usr/sbin:/sbin` },
      cacheKey: process.env.KILN_DEBIAN_CACHE ?? "",
    },
    options,
  );
  return { disk: resultOf(kv, "disk", label), cacheDir: resultOf(kv, "cache_dir", label) };
}
