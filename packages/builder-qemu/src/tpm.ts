/**
 * `vtpm`: an emulated TPM from swtpm, as Packer's qemu builder does it. The step (steps/tpm.ts) starts
 * `swtpm socket --tpm2 --tpmstate dir=state --ctrl type=unixio,path=swtpm.sock` (no `--tpm2` with
 * `use_tpm1`) in a temporary folder before QEMU, waits until its control socket accepts a
 * connection, and hands QEMU the socket; its cleanup (which runs after QEMU's, cleanups being in
 * reverse order) stops swtpm on success, failure and interrupt.
 *
 * The paths given to swtpm are relative to its working folder: swtpm's option parser splits at
 * every `,` and has no escape, so a temporary folder with a comma in its path (TMPDIR) would
 * break `--tpmstate dir=` and `--ctrl path=`. QEMU gets the absolute path, its commas doubled.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { constants } from "node:fs";
import { access, mkdir } from "node:fs/promises";
import { connect } from "node:net";
import { delimiter, join } from "node:path";
import type { RunContext } from "@kiln/core";
import { qemuErrors } from "./errors.js";
import type { QemuOptions } from "./schema.js";

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
export function checkTpmOptions(
  o: Pick<QemuOptions, "vtpm" | "use_tpm1" | "tpm_device_type">,
): string | undefined {
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

/** How long swtpm gets to accept a connection on its control socket, ms. */
export const SWTPM_START_TIMEOUT = 10_000;

/**
 * One connection attempt to a unix socket: resolves with undefined when it was accepted (the
 * connection is closed at once), else with the error code. The socket file appears at bind(),
 * before listen(): only a connect that succeeds shows swtpm is ready for QEMU.
 */
function probeSocket(path: string, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const sock = connect({ path });
    const done = (result: string | undefined) => {
      clearTimeout(timer);
      sock.removeAllListeners("connect");
      sock.removeAllListeners("error");
      sock.on("error", () => {});
      sock.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done("ETIMEDOUT"), timeoutMs);
    sock.once("connect", () => done(undefined));
    sock.once("error", (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
  });
}

/** A started swtpm. */
export interface Swtpm {
  proc: ChildProcess;
  /** Its control socket (absolute), for QEMU. */
  socket: string;
  /** What swtpm printed (the last 4000 characters). */
  output(): string;
  /** Resolves once swtpm's output is all read after it exited. */
  closed: Promise<void>;
  spawnError(): Error | undefined;
  /** The command, for messages. */
  command: string;
}

/** Start swtpm in a temporary folder of the run (it is not ready yet: see waitSwtpmReady). */
export async function spawnSwtpm(ctx: RunContext, tpm1: boolean): Promise<Swtpm> {
  const bin = await findSwtpm();
  if (!bin)
    throw qemuErrors.error(
      "KILN_QEMU_VTPM",
      "vtpm: true needs swtpm, which is not installed",
      "Install it: apt-get install swtpm swtpm-tools (Debian/Ubuntu), dnf install swtpm swtpm-tools (Fedora).",
    );
  const dir = await ctx.tempDir("kiln-qemu-tpm-");
  await mkdir(join(dir, "state"), { mode: 0o700 });
  // Relative to swtpm's working folder `dir`: no comma of the temporary path reaches swtpm.
  const args = [
    "socket",
    ...(tpm1 ? [] : ["--tpm2"]),
    "--tpmstate",
    "dir=state",
    "--ctrl",
    "type=unixio,path=swtpm.sock",
    "--log",
    "level=1",
  ];
  let output = "";
  const proc = spawn(bin, args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
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
  // "close" comes after "exit" once swtpm's output is all read.
  const closed = new Promise<void>((r) => proc.once("close", () => r()));
  let spawnError: Error | undefined;
  proc.once("error", (e) => {
    spawnError = e;
    live.delete(proc);
  });
  return {
    proc,
    socket: join(dir, "swtpm.sock"),
    output: () => output,
    closed,
    spawnError: () => spawnError,
    command: `${bin} ${args.join(" ")} (in ${dir})`,
  };
}

/** Wait until swtpm's control socket accepts a connection (QEMU fails at once before that). */
export async function waitSwtpmReady(sw: Swtpm, signal: AbortSignal): Promise<void> {
  const { proc, socket } = sw;
  const deadline = Date.now() + SWTPM_START_TIMEOUT;
  let lastError: string | undefined;
  for (;;) {
    if (signal.aborted) throw signal.reason;
    const spawnError = sw.spawnError();
    if (spawnError || exited(proc) || Date.now() > deadline) {
      if (exited(proc)) await Promise.race([sw.closed, new Promise((r) => setTimeout(r, 500))]);
      const why = spawnError
        ? `did not start: ${spawnError.message}`
        : exited(proc)
          ? `exited (${proc.exitCode !== null ? `code ${proc.exitCode}` : proc.signalCode}) before its control socket accepted a connection`
          : `did not accept a connection on its control socket ${socket} within ${SWTPM_START_TIMEOUT / 1000}s${lastError ? ` (${lastError})` : ""}`;
      const out = sw.output().trim();
      const said = out ? out.split("\n").slice(-3).join(" / ") : "(nothing)";
      throw qemuErrors.error(
        "KILN_QEMU_VTPM",
        `swtpm ${why}; swtpm's output (stderr): ${said}`,
        `The command was: ${sw.command}`,
      );
    }
    lastError = await probeSocket(socket, Math.max(1, Math.min(1000, deadline - Date.now())));
    if (lastError === undefined) return;
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Stop swtpm: SIGTERM, then SIGKILL. False when it had already exited. */
export async function stopSwtpm(proc: ChildProcess): Promise<boolean> {
  if (exited(proc)) return false;
  proc.kill("SIGTERM");
  if (!(await waitExit(proc, 3000))) {
    proc.kill("SIGKILL");
    await waitExit(proc, 5000);
  }
  return true;
}
