/**
 * The kiln test appliance: a tiny Linux built by `build.sh` from Debian packages
 * (see README.md). `ensureAppliance()` builds it once into the cache and returns
 * the paths; later calls (and later runs, while the inputs are unchanged) reuse it.
 */
import { spawn, spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

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

export interface EnsureOptions {
  /** Rebuild even if a cached result exists. */
  force?: boolean;
  /** Receives build.sh's progress output (stderr), line by line. */
  log?: (line: string) => void;
}

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

const pending = new Map<string, Promise<Appliance>>();

/** Builds the appliance if needed (serialised per process and, via flock, across processes). */
export function ensureAppliance(options: EnsureOptions = {}): Promise<Appliance> {
  const key = `${process.env.KILN_APPLIANCE_CACHE ?? ""}|${options.force ? "force" : ""}`;
  let p = pending.get(key);
  if (!p) {
    p = runBuild(options);
    pending.set(key, p);
    p.catch(() => pending.delete(key));
  }
  return p;
}

function runBuild(options: EnsureOptions): Promise<Appliance> {
  return new Promise((resolve, reject) => {
    const args = [BUILD_SCRIPT];
    if (options.force) args.push("--force");
    const child = spawn("bash", args, { cwd: APPLIANCE_DIR, stdio: ["ignore", "pipe", "pipe"] });
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
        reject(new Error(`appliance build.sh exited with ${code}:\n${err.slice(-4000)}`));
        return;
      }
      const kv = new Map<string, string>();
      for (const line of out.split("\n")) {
        const m = /^([a-z_]+)=(.+)$/.exec(line.trim());
        if (m?.[1] && m[2]) kv.set(m[1], m[2]);
      }
      const get = (k: string): string => {
        const v = kv.get(k);
        if (!v) throw new Error(`appliance build.sh did not print ${k}=…; stdout:\n${out}`);
        return v;
      };
      try {
        resolve({
          installerIso: get("installer_iso"),
          disk: get("disk"),
          cacheDir: get("cache_dir"),
          kernel: get("kernel"),
          initrd: get("initrd"),
          installerInitrd: get("installer_initrd"),
        });
      } catch (e) {
        reject(e);
      }
    });
  });
}
