/**
 * The kiln test appliance: a tiny Linux built by `build.sh` from Debian packages
 * (see README.md). `ensureAppliance()` builds it once into the cache and returns
 * the paths; later calls (and later runs, while the inputs are unchanged) reuse it.
 */
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type BuildScriptOptions, resultOf, runBuildScript } from "./build-script.js";

export interface Appliance {
  /** ISOLINUX installer: type `install url=http://HOST:PORT/config` at `boot:`. */
  installerIso: string;
  /** The installed system (root password `kiln`), reads a NoCloud `cidata` seed at boot. */
  disk: string;
  /** The cache directory holding everything below. */
  cacheDir: string;
  /** Kernel, stage-1 initramfs and installer initramfs for direct (-kernel) boots. */
  kernel: string;
  initrd: string;
  installerInitrd: string;
}

export type EnsureOptions = BuildScriptOptions;

export const APPLIANCE_DIR: string = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
export const BUILD_SCRIPT: string = path.join(APPLIANCE_DIR, "build.sh");

/** Root password of the prebuilt `disk.qcow2`. */
export const DEFAULT_ROOT_PASSWORD = "kiln";

/** Lines the guest prints on its serial console (ttyS0). */
export const MARKERS = {
  /** Installer: the full kernel command line, e.g. `KILN-CMDLINE: ... url=http://...`. */
  cmdline: "KILN-CMDLINE:",
  installDone: "KILN-INSTALL-DONE",
  installFailed: "KILN-INSTALL-FAILED",
  /** Installed system: rcS started. */
  boot: "KILN-BOOT:",
  /** `KILN-CIDATA: none` / `KILN-CIDATA: applied ...`. */
  cidata: "KILN-CIDATA:",
  /** dropbear listens on port 22 and eth0 has its DHCP address. */
  ready: "KILN-READY",
  shutdown: "KILN-SHUTDOWN",
} as const;

/** The host tools the appliance build and boots need. */
export const HOST_TOOLS = ["qemu-system-x86_64", "qemu-img", "xorriso", "apt-get", "dpkg-deb"] as const;

/** Host tools from HOST_TOOLS that are not on PATH. */
export function missingHostTools(): string[] {
  return HOST_TOOLS.filter(
    (t) => spawnSync("sh", ["-c", `command -v ${t}`], { stdio: "ignore" }).status !== 0,
  );
}

/** Builds the appliance if needed (serialised per process and, via flock, across processes). */
export async function ensureAppliance(options: EnsureOptions = {}): Promise<Appliance> {
  const label = "appliance build.sh";
  const kv = await runBuildScript(
    { script: BUILD_SCRIPT, cwd: APPLIANCE_DIR, label, cacheKey: process.env.KILN_APPLIANCE_CACHE ?? "" },
    options,
  );
  const get = (k: string) => resultOf(kv, k, label);
  return {
    installerIso: get("installer_iso"),
    disk: get("disk"),
    cacheDir: get("cache_dir"),
    kernel: get("kernel"),
    initrd: get("initrd"),
    installerInitrd: get("installer_initrd"),
  };
}
