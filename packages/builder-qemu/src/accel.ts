/**
 * `accelerator: auto`: use KVM only when it really runs a guest. On some hosts /dev/kvm opens
 * fine but guests stall or die with "KVM internal error" in the firmware. The probe starts a
 * tiny machine under KVM (no disks, 16 MiB, the default SeaBIOS with its debug port on a file)
 * and requires SeaBIOS to reach the end of POST ("No bootable device" / "Booting from") within
 * a time limit (2 s; a working KVM takes ~0.1 s). Anything else — QEMU exiting, an internal
 * error, slowness — means tcg. The result is cached per QEMU binary for the process.
 */
import { constants, existsSync } from "node:fs";
import { access, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startQemu, waitExit } from "./proc.js";

export interface ProbeResult {
  usable: boolean;
  /** Why KVM is not used, or how long the probe took. */
  reason: string;
  ms: number;
}

const cache = new Map<string, Promise<ProbeResult>>();

export const KVM_PROBE_LIMIT_MS = 2000;

/** Probe KVM once per qemu binary and process. */
export function probeKvm(qemuBinary: string, limitMs = KVM_PROBE_LIMIT_MS): Promise<ProbeResult> {
  let p = cache.get(qemuBinary);
  if (!p) {
    p = runProbe(qemuBinary, limitMs);
    cache.set(qemuBinary, p);
  }
  return p;
}

/** Forget cached probe results (tests). */
export function resetKvmProbe(): void {
  cache.clear();
}

async function runProbe(qemuBinary: string, limitMs: number): Promise<ProbeResult> {
  const t0 = Date.now();
  try {
    await access("/dev/kvm", constants.R_OK | constants.W_OK);
  } catch {
    return { usable: false, reason: "/dev/kvm is missing or not accessible", ms: 0 };
  }
  const dir = await mkdtemp(join(tmpdir(), "kiln-kvm-probe-"));
  const log = join(dir, "seabios.log");
  const vm = startQemu(qemuBinary, [
    "-machine",
    "type=pc,accel=kvm",
    "-m",
    "16M",
    "-nodefaults",
    "-display",
    "none",
    "-no-reboot",
    "-chardev",
    `file,id=seabios,path=${log}`,
    "-device",
    "isa-debugcon,iobase=0x402,chardev=seabios",
  ]);
  try {
    const deadline = t0 + limitMs;
    while (Date.now() < deadline) {
      if (!vm.running) {
        const err = vm.stderr().trim().split("\n").slice(-2).join(" / ");
        return {
          usable: false,
          reason: `QEMU with KVM exited at once${err ? `: ${err}` : ""}`,
          ms: Date.now() - t0,
        };
      }
      if (/KVM internal error|emulation failure/.test(vm.stderr())) {
        return {
          usable: false,
          reason: "KVM internal error while running the firmware",
          ms: Date.now() - t0,
        };
      }
      const text = await readFile(log, "utf8").catch(() => "");
      if (/No bootable device|Booting from/.test(text)) {
        return {
          usable: true,
          reason: `a test guest ran under KVM in ${Date.now() - t0} ms`,
          ms: Date.now() - t0,
        };
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    return {
      usable: false,
      reason: `a test guest under KVM did not finish its firmware within ${limitMs / 1000} s (KVM hangs or is very slow here)`,
      ms: Date.now() - t0,
    };
  } finally {
    vm.child.kill("SIGKILL");
    await waitExit(vm, 5000);
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Why an accelerator QEMU knows cannot run on this host (undefined when it may): hvf is macOS's,
 * whpx Windows', hax Intel HAXM's (macOS and Windows), xen needs a Xen host.
 */
export function acceleratorMissing(
  accel: string,
  platform: NodeJS.Platform = process.platform,
): string | undefined {
  switch (accel) {
    case "hvf":
      return platform === "darwin" ? undefined : "Hypervisor.framework (hvf) exists only on macOS";
    case "whpx":
      return platform === "win32"
        ? undefined
        : "the Windows Hypervisor Platform (whpx) exists only on Windows";
    case "hax":
      return platform === "darwin" || platform === "win32"
        ? undefined
        : "Intel HAXM (hax) exists only on macOS and Windows (and QEMU 8.2 dropped it)";
    case "xen":
      return existsSync("/proc/xen") || existsSync("/dev/xen/privcmd")
        ? undefined
        : "this host is not a Xen host (no /proc/xen)";
    default:
      return undefined;
  }
}
