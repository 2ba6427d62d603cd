/**
 * `vtpm`: an emulated TPM from swtpm, as Packer's qemu builder does it. The step starts
 * `swtpm socket --tpm2 --tpmstate dir=… --ctrl type=unixio,path=…` (no `--tpm2` with `use_tpm1`)
 * before QEMU, waits for its control socket, and hands QEMU the socket; its cleanup (which runs
 * after QEMU's, cleanups being in reverse order) stops swtpm on success, failure and interrupt.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { constants, existsSync } from "node:fs";
import { access, mkdir } from "node:fs/promises";
import { delimiter, join } from "node:path";
import { KilnError, type Step } from "@kiln/core";
import type { QemuOptions } from "./options.js";

/** The TPM as QEMU sees it: the swtpm control socket and the device model. */
export interface VmTpm {
  socket: string;
  device: string;
}

export const TPM_DEVICE_TYPES = ["tpm-tis", "tpm-crb", "tpm-tis-device", "tpm-spapr"] as const;

/**
 * The device model: `tpm_device_type` when set; else tpm-crb (the TPM 2.0 interface) on a q35
 * machine, tpm-tis otherwise and always for TPM 1.2 (which CRB does not speak).
 */
export function tpmDevice(o: Pick<QemuOptions, "tpm_device_type" | "use_tpm1">, machineType: string): string {
  if (o.tpm_device_type) return o.tpm_device_type;
  if (!o.use_tpm1 && /q35/.test(machineType)) return "tpm-crb";
  return "tpm-tis";
}

/** Configuration errors, for prepare(). */
export function checkTpmOptions(o: QemuOptions): string | undefined {
  if (!o.vtpm && (o.use_tpm1 || o.tpm_device_type))
    return `${o.use_tpm1 ? "use_tpm1" : "tpm_device_type"} has no effect without vtpm: true`;
  if (o.use_tpm1 && o.tpm_device_type === "tpm-crb")
    return "tpm-crb is a TPM 2.0 interface and cannot carry use_tpm1's TPM 1.2";
  return undefined;
}

const live = new Set<ChildProcess>();
let exitHook = false;

async function findSwtpm(): Promise<string | undefined> {
  const dirs = [...(process.env.PATH ?? "").split(delimiter), "/usr/bin", "/usr/local/bin"].filter(Boolean);
  for (const d of dirs) {
    const p = join(d, "swtpm");
    try {
      await access(p, constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return undefined;
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (exited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      child.off("exit", onExit);
      resolve(false);
    }, ms);
    const onExit = () => {
      clearTimeout(t);
      resolve(true);
    };
    child.once("exit", onExit);
  });
}

/** Start swtpm; `attach` receives what QEMU needs. */
export function tpmStep(o: QemuOptions, machineType: () => string, attach: (tpm: VmTpm) => void): Step {
  let child: ChildProcess | undefined;
  return {
    name: "vtpm",
    async run(ctx) {
      if (!o.vtpm) return;
      const bin = await findSwtpm();
      if (!bin)
        throw new KilnError("KILN_QEMU_VTPM", "[qemu] vtpm: true needs swtpm, which is not installed", {
          hint: "Install it: apt-get install swtpm swtpm-tools (Debian/Ubuntu), dnf install swtpm swtpm-tools (Fedora).",
        });
      const dir = await ctx.tempDir("kiln-qemu-tpm-");
      const state = join(dir, "state");
      await mkdir(state, { mode: 0o700 });
      const socket = join(dir, "swtpm.sock");
      const device = tpmDevice(o, machineType());
      const args = [
        "socket",
        ...(o.use_tpm1 ? [] : ["--tpm2"]),
        "--tpmstate",
        `dir=${state}`,
        "--ctrl",
        `type=unixio,path=${socket}`,
        "--log",
        "level=1",
      ];
      let output = "";
      const proc = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
      child = proc;
      if (!exitHook) {
        exitHook = true;
        process.once("exit", () => {
          for (const p of live) p.kill("SIGKILL");
        });
      }
      live.add(proc);
      proc.once("exit", () => live.delete(proc));
      const keep = (b: Buffer) => {
        output = (output + b.toString("utf8")).slice(-4000);
      };
      proc.stdout?.on("data", keep);
      proc.stderr?.on("data", keep);
      let spawnError: Error | undefined;
      proc.once("error", (e) => {
        spawnError = e;
        live.delete(proc);
      });
      // QEMU fails at once if the control socket is not there yet.
      const deadline = Date.now() + 10_000;
      while (!existsSync(socket)) {
        if (ctx.signal.aborted) throw ctx.signal.reason;
        if (spawnError || exited(proc) || Date.now() > deadline) {
          throw new KilnError(
            "KILN_QEMU_VTPM",
            `[qemu] swtpm did not start${spawnError ? `: ${spawnError.message}` : exited(proc) ? ` (exit ${proc.exitCode ?? proc.signalCode})` : " within 10s"}${output.trim() ? `: ${output.trim().split("\n").slice(-3).join(" / ")}` : ""}`,
            { hint: `The command was: ${bin} ${args.join(" ")}` },
          );
        }
        await new Promise((r) => setTimeout(r, 25));
      }
      attach({ socket, device });
      ctx.ui.say(
        `Started swtpm: an emulated TPM ${o.use_tpm1 ? "1.2" : "2.0"} as ${device} (pid ${proc.pid})`,
      );
    },
    async cleanup(ctx) {
      const proc = child;
      child = undefined;
      if (!proc || exited(proc)) return;
      ctx.ui.say("Stopping swtpm...");
      proc.kill("SIGTERM");
      if (!(await waitExit(proc, 3000))) {
        proc.kill("SIGKILL");
        await waitExit(proc, 5000);
      }
    },
  };
}
