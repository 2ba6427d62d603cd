/**
 * Test helpers: start a real QEMU (TCG, no disk or a 512-byte echo boot sector) with a QMP socket.
 * Not part of the published package (excluded from the build).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The QEMU to test with (`KILN_QEMU_BINARY` overrides). */
export const QEMU_BINARY = process.env.KILN_QEMU_BINARY ?? "qemu-system-x86_64";

/** The QEMU binary's version line, or undefined when it is not installed. */
export function qemuVersion(): string | undefined {
  try {
    return execFileSync(QEMU_BINARY, ["--version"], { encoding: "utf8", timeout: 10_000 }).split("\n")[0];
  } catch {
    return undefined;
  }
}

/**
 * A boot sector that prints "R" on COM1, then forever reads a key with BIOS int 16h and writes
 * its ASCII code and scan code (two bytes) to COM1: a guest that echoes what it is typed.
 *
 *   mov al,'R' / mov dx,0x3f8 / out dx,al
 *   l: mov ah,0 / int 0x16 / mov dx,0x3f8 / out dx,al / mov al,ah / out dx,al / jmp l
 */
export function echoBootSector(): Buffer {
  const code = [
    0xb0, 0x52, 0xba, 0xf8, 0x03, 0xee, 0xb4, 0x00, 0xcd, 0x16, 0xba, 0xf8, 0x03, 0xee, 0x88, 0xe0, 0xee,
    0xeb, 0xf3,
  ];
  const sector = Buffer.alloc(512);
  Buffer.from(code).copy(sector);
  sector[510] = 0x55;
  sector[511] = 0xaa;
  return sector;
}

export interface TestQemu {
  dir: string;
  qmpPath: string;
  serialPath: string;
  proc: ChildProcess;
  exited: Promise<number | null>;
  /** Serial output so far. */
  serial(): Promise<Buffer>;
  /** Wait until serial output holds at least `bytes` bytes (or `timeout` ms pass). */
  waitSerial(bytes: number, timeout?: number): Promise<Buffer>;
  kill(): Promise<void>;
}

const running = new Set<TestQemu>();

/** Start QEMU with a QMP socket; with `echo`, boot the echo boot sector and wait for its "R". */
export async function startTestQemu(
  options: { echo?: boolean; extraArgs?: string[] } = {},
): Promise<TestQemu> {
  const dir = await mkdtemp(join(tmpdir(), "kiln-qmp-"));
  const qmpPath = join(dir, "qmp.sock");
  const serialPath = join(dir, "serial.out");
  const args = [
    "-accel",
    "tcg",
    "-machine",
    "pc",
    "-m",
    "64",
    "-display",
    "none",
    "-nodefaults",
    "-device",
    "VGA",
    "-qmp",
    `unix:${qmpPath},server=on,wait=off`,
    "-serial",
    `file:${serialPath}`,
  ];
  if (options.echo) {
    const img = join(dir, "echo.img");
    await writeFile(img, echoBootSector());
    args.push("-drive", `file=${img},format=raw,if=ide`);
  }
  args.push(...(options.extraArgs ?? []));
  const proc = spawn(QEMU_BINARY, args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  proc.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
  // A missing binary fails here, clearly, instead of as an unhandled 'error' event.
  await new Promise<void>((resolve, reject) => {
    proc.once("spawn", resolve);
    proc.once("error", (err) => {
      void rm(dir, { recursive: true, force: true });
      reject(new Error(`cannot start ${QEMU_BINARY}: ${err.message} (apt-get install qemu-system-x86)`));
    });
  });
  const serial = async () => (existsSync(serialPath) ? readFile(serialPath) : Buffer.alloc(0));
  const waitSerial = async (bytes: number, timeout = 10_000) => {
    const deadline = Date.now() + timeout;
    for (;;) {
      const out = await serial();
      if (out.length >= bytes || Date.now() > deadline) return out;
      if (proc.exitCode !== null) throw new Error(`QEMU exited (${proc.exitCode}): ${stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const q: TestQemu = {
    dir,
    qmpPath,
    serialPath,
    proc,
    exited,
    serial,
    waitSerial,
    async kill() {
      running.delete(q);
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill("SIGKILL");
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
  running.add(q);
  if (options.echo) {
    const ready = await waitSerial(1, 20_000);
    if (ready[0] !== 0x52) throw new Error(`echo guest did not start: ${stderr}`);
  }
  return q;
}

/** Kill every QEMU started by this module and remove its files. */
export async function killAllTestQemus(): Promise<void> {
  await Promise.all([...running].map((q) => q.kill()));
}
