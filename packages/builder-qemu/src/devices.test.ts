/**
 * Floppy and vTPM on the QEMU command line: the arguments, the option checks, and real QEMU (paused
 * with -S, no guest needed) accepting them on the pc and q35 machines, with swtpm stopped after.
 */
import { existsSync, readdirSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { applyDefaults, createRunContext, EventBus, type RunContext } from "@kiln/core";
import { findFloppyTools, makeFloppy, QmpClient } from "@kiln/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultArgs, flattenArgs, type VmConfig } from "./args.js";
import { qemuBuilder } from "./builder.js";
import { startQemu, waitExit } from "./proc.js";
import { type QemuOptions, qemuSchema } from "./schema.js";
import { TPM } from "./state.js";
import { tpmStep } from "./steps/tpm.js";
import { qemuSkip } from "./test-support.js";
import { checkTpmOptions, tpmDevice, type VmTpm } from "./tpm.js";

function config(over: Partial<VmConfig> = {}): VmConfig {
  return {
    name: "t",
    machineType: "pc",
    accel: "tcg",
    memoryMiB: 64,
    cpus: 1,
    disks: [],
    diskInterface: "virtio",
    diskCache: "writeback",
    diskDiscard: "ignore",
    diskDetectZeroes: "off",
    bootFromCd: false,
    net: { kind: "user", guestPort: 22 },
    netDevice: "virtio-net",
    qmpSocket: "/tmp/q.sock",
    serialLog: "/tmp/serial.log",
    display: "none",
    ...over,
  };
}

describe("QEMU arguments for floppy and TPM", () => {
  it("attaches the floppy image as the first floppy drive, raw", () => {
    const args = defaultArgs(config({ floppy: "/tmp/a,b/floppy.img" }));
    expect(args).toContainEqual(["-drive", "file=/tmp/a,,b/floppy.img,if=floppy,index=0,format=raw"]);
    expect(defaultArgs(config()).some((a) => a.join(" ").includes("floppy"))).toBe(false);
  });

  it("attaches swtpm through a socket chardev, an emulator tpmdev and the device model", () => {
    const args = defaultArgs(config({ tpm: { socket: "/run/x/swtpm.sock", device: "tpm-crb" } }));
    expect(args).toContainEqual(["-chardev", "socket,id=chrtpm,path=/run/x/swtpm.sock"]);
    expect(args).toContainEqual(["-tpmdev", "emulator,id=tpm0,chardev=chrtpm"]);
    expect(args).toContainEqual(["-device", "tpm-crb,tpmdev=tpm0"]);
  });

  it("picks tpm-crb for TPM 2.0 on q35, tpm-tis otherwise; tpm_device_type wins", () => {
    expect(tpmDevice({}, "pc")).toBe("tpm-tis");
    expect(tpmDevice({}, "q35")).toBe("tpm-crb");
    expect(tpmDevice({}, "pc-q35-7.2")).toBe("tpm-crb");
    expect(tpmDevice({ use_tpm1: true }, "q35")).toBe("tpm-tis");
    expect(tpmDevice({ tpm_device_type: "tpm-tis" }, "q35")).toBe("tpm-tis");
  });

  it("check() takes floppy and vtpm options and refuses contradictions", async () => {
    type QemuInput = Partial<QemuOptions> & { iso_url: string };
    const base: QemuInput = { iso_url: "https://example.invalid/x.iso" };
    const check = async (o: QemuInput) =>
      (
        await (qemuBuilder.check?.(applyDefaults(qemuSchema, o) as QemuOptions, {
          baseDir: import.meta.dirname,
          type: "qemu",
          env: {},
        }) ?? [])
      ).map((p) => `${p.option?.join(".")}: ${p.message}`);
    expect(
      await check({ ...base, floppy_files: ["devices.test.ts"], floppy_label: "cidata", vtpm: true }),
    ).toEqual([]);
    expect((await check({ ...base, floppy_label: "far-too-long-label" }))[0]).toMatch(
      /^floppy_label: floppy_label/,
    );
    expect(await check({ ...base, use_tpm1: true })).toEqual([
      "use_tpm1: use_tpm1 has no effect without vtpm: true",
    ]);
    expect((await check({ ...base, vtpm: true, use_tpm1: true, tpm_device_type: "tpm-crb" }))[0]).toMatch(
      /TPM 2\.0 interface/,
    );
    expect((await check({ ...base, floppy_files: ["missing.ps1"] }))[0]).toMatch(
      /^floppy_files.0: floppy_files\[0\]: "missing.ps1" does not exist/,
    );
    expect(checkTpmOptions({ vtpm: true, use_tpm1: true })).toBeUndefined();
  });
});

const { skip, reason } = qemuSkip();
const floppyTools = await findFloppyTools();
const swtpmMissing =
  !existsSync("/usr/bin/swtpm") && !process.env.PATH?.split(":").some((d) => existsSync(join(d, "swtpm")));
const missing = [
  ...(skip ? [reason] : []),
  ...floppyTools.missing,
  ...(swtpmMissing ? ["swtpm (apt-get install swtpm swtpm-tools)"] : []),
];
const skipReal = missing.length > 0 && process.env.CI !== "true";

function context(dir: string): RunContext {
  const bus = new EventBus();
  const { ctx } = createRunContext({
    run: { name: "b.qemu.s", build: "b", source: "s", type: "qemu", runUuid: "u" },
    ui: bus.ui("b.qemu.s"),
    baseDir: dir,
  });
  // Temporary folders inside `dir` (which the tests remove), so a comma in its path reaches them.
  ctx.tempDir = async (prefix = "kiln-") => mkdtemp(join(dir, prefix));
  return ctx;
}

function pidAlive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe.skipIf(skipReal)(
  `real QEMU takes the floppy and the TPM${skipReal ? ` (skipped: ${missing.join("; ")})` : ""}`,
  () => {
    const dirs: string[] = [];
    afterAll(async () => {
      for (const d of dirs) await rm(d, { recursive: true, force: true });
    });

    for (const machine of ["pc", "q35"] as const) {
      it(`${machine}: query-block shows the floppy image, query-tpm the swtpm TPM; swtpm is stopped by cleanup`, async () => {
        const dir = await mkdtemp(join(tmpdir(), "kiln-qemu-dev-"));
        dirs.push(dir);
        const ctx = context(dir);
        const says: string[] = [];
        ctx.ui = { ...ctx.ui, say: (t: string) => says.push(t) };
        const floppy = await makeFloppy({
          content: { "Autounattend.xml": "<unattend/>" },
          output: join(dir, "floppy.img"),
          baseDir: dir,
        });
        const step = tpmStep({ vtpm: true, machine_type: machine });
        await step.run(ctx);
        const tpm = ctx.state.get(TPM);
        expect(tpm?.device).toBe(machine === "q35" ? "tpm-crb" : "tpm-tis");
        const swtpmPid = Number(/pid (\d+)/.exec(says.join("\n"))?.[1]);
        expect(pidAlive(swtpmPid)).toBe(true);
        const qmpSocket = join(dir, "qmp.sock");
        const args = flattenArgs(
          defaultArgs(
            config({
              machineType: machine,
              floppy: floppy.output,
              tpm: tpm as VmTpm,
              qmpSocket,
              serialLog: join(dir, "s.log"),
            }),
          ),
        );
        const proc = startQemu("qemu-system-x86_64", ["-S", ...args]);
        try {
          const qmp = await QmpClient.connect(qmpSocket, { timeout: 20_000 });
          try {
            const blocks =
              await qmp.execute<
                Array<{ device: string; inserted?: { file: string; drv: string; ro: boolean } }>
              >("query-block");
            const fd = blocks.find((b) => b.device === "floppy0");
            expect(fd?.inserted, JSON.stringify(blocks)).toMatchObject({
              file: floppy.output,
              drv: "raw",
              ro: false,
            });
            const tpms =
              await qmp.execute<Array<{ id: string; model: string; options: { type: string } }>>("query-tpm");
            expect(tpms).toEqual([
              expect.objectContaining({
                id: "tpm0",
                model: machine === "q35" ? "tpm-crb" : "tpm-tis",
                options: expect.objectContaining({ type: "emulator" }),
              }),
            ]);
            await qmp.quit().catch(() => {});
          } finally {
            qmp.destroy();
          }
        } finally {
          if (!(await waitExit(proc, 5000))) proc.child.kill("SIGKILL");
          await waitExit(proc, 5000);
        }
        await step.cleanup?.(ctx);
        expect(pidAlive(swtpmPid), "swtpm is still running after cleanup").toBe(false);
      }, 60_000);
    }

    it("a temporary folder with a comma in its path: swtpm starts and QEMU attaches its TPM", async () => {
      const dir = await mkdtemp(join(tmpdir(), "kiln,qemu-dev-"));
      dirs.push(dir);
      const ctx = context(dir);
      const step = tpmStep({ vtpm: true, machine_type: "pc" });
      try {
        await step.run(ctx);
        const tpm = ctx.state.get(TPM);
        expect(tpm?.socket).toContain("kiln,qemu-dev-");
        // Only the TPM's paths here: -qmp and -serial do not escape commas.
        const plain = await mkdtemp(join(tmpdir(), "kiln-qemu-dev-"));
        dirs.push(plain);
        const qmpSocket = join(plain, "qmp.sock");
        const args = flattenArgs(
          defaultArgs(config({ tpm: tpm as VmTpm, qmpSocket, serialLog: join(plain, "s.log") })),
        );
        const proc = startQemu("qemu-system-x86_64", ["-S", ...args]);
        try {
          const qmp = await QmpClient.connect(qmpSocket, { timeout: 20_000 });
          try {
            const tpms = await qmp.execute<Array<{ id: string; model: string }>>("query-tpm");
            expect(tpms).toEqual([expect.objectContaining({ id: "tpm0", model: "tpm-tis" })]);
            await qmp.quit().catch(() => {});
          } finally {
            qmp.destroy();
          }
        } finally {
          if (!(await waitExit(proc, 5000))) proc.child.kill("SIGKILL");
          await waitExit(proc, 5000);
        }
      } finally {
        await step.cleanup?.(ctx);
      }
    }, 60_000);

    it("swtpm's cleanup stops it even when QEMU never connected; no swtpm without vtpm", async () => {
      const dir = await mkdtemp(join(tmpdir(), "kiln-qemu-dev-"));
      dirs.push(dir);
      const ctx = context(dir);
      const says: string[] = [];
      ctx.ui = { ...ctx.ui, say: (t: string) => says.push(t) };
      const step = tpmStep({ vtpm: true, use_tpm1: true, machine_type: "pc" });
      await step.run(ctx);
      const pid = Number(/pid (\d+)/.exec(says.join("\n"))?.[1]);
      expect(says.join("\n")).toMatch(/emulated TPM 1\.2 as tpm-tis/);
      expect(pidAlive(pid)).toBe(true);
      await step.cleanup?.(ctx);
      expect(pidAlive(pid)).toBe(false);
      // Nothing to do for a build without vtpm.
      const none = tpmStep({ machine_type: "pc" });
      await none.run(ctx);
      expect(ctx.state.get(TPM), "must not attach").toBeUndefined();
      await none.cleanup?.(ctx);
    });
  },
);

const python3 = process.env.PATH?.split(":").find((d) => existsSync(join(d, "python3")));

/**
 * A fake swtpm, put first on PATH: records its arguments and pid in its working folder, then
 * (KILN_FAKE_SWTPM) fails at once with a message, hangs, or binds its control socket and listens
 * only 0.8 s later, as a slow swtpm would. It exits when kiln's test process goes.
 */
const FAKE_SWTPM = `#!/usr/bin/env python3
import os, socket, sys, time
parent = os.getppid()
open("argv.txt", "w").write("\\n".join(sys.argv[1:]))
open("pid.txt", "w").write(str(os.getpid()))
mode = os.environ.get("KILN_FAKE_SWTPM", "slow")
if mode == "fail":
    sys.stderr.write("swtpm: cannot open tpmstate: boom\\n")
    sys.exit(1)
def orphaned():
    return os.getppid() != parent
if mode == "hang":
    while not orphaned():
        time.sleep(0.2)
    sys.exit(0)
path = [a for a in sys.argv if a.startswith("type=unixio")][0].split("path=")[1]
s = socket.socket(socket.AF_UNIX)
s.bind(path)
time.sleep(0.8)  # the socket file exists, but nothing listens yet
s.listen(4)
s.settimeout(0.2)
while not orphaned():
    try:
        c, _ = s.accept()
        c.close()
    except socket.timeout:
        pass
`;

describe.skipIf(!python3)("swtpm's start (a fake swtpm on PATH)", () => {
  const dirs: string[] = [];
  const oldPath = process.env.PATH;
  let binDir: string;

  beforeAll(async () => {
    binDir = await mkdtemp(join(tmpdir(), "kiln-fake-swtpm-"));
    dirs.push(binDir);
    await writeFile(join(binDir, "swtpm"), FAKE_SWTPM, { mode: 0o755 });
    process.env.PATH = `${binDir}:${oldPath}`;
  });
  afterAll(async () => {
    process.env.PATH = oldPath;
    delete process.env.KILN_FAKE_SWTPM;
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  async function start(mode: string, signal?: AbortSignal) {
    process.env.KILN_FAKE_SWTPM = mode;
    const base = await mkdtemp(join(tmpdir(), "kiln,tpm-comma-"));
    dirs.push(base);
    const ctx = { ...context(base), ...(signal ? { signal } : {}) };
    let dir = "";
    ctx.tempDir = async (prefix = "kiln-") => {
      dir = await mkdtemp(join(base, prefix));
      return dir;
    };
    const says: string[] = [];
    ctx.ui = { ...ctx.ui, say: (t: string) => says.push(t) };
    const step = tpmStep({ vtpm: true, machine_type: "pc" });
    const t0 = Date.now();
    const result = await step.run(ctx).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    const tpm: VmTpm | undefined = ctx.state.get(TPM);
    return { step, ctx, dir, says, tpm, error: result, ms: Date.now() - t0 };
  }

  it("waits until the control socket accepts a connection, not just until its file exists", async () => {
    const r = await start("slow");
    try {
      expect(r.error).toBeUndefined();
      expect(r.ms).toBeGreaterThanOrEqual(700);
      const socket = r.tpm?.socket ?? "";
      // At attach time, a connect (what QEMU does first) succeeds at once.
      const ok = await new Promise<boolean>((resolve) => {
        const s = connect({ path: socket });
        s.once("connect", () => {
          s.destroy();
          resolve(true);
        });
        s.once("error", () => resolve(false));
      });
      expect(ok).toBe(true);
      // No comma of the temporary folder reaches swtpm: its paths are relative to its folder.
      expect(socket).toContain("kiln,tpm-comma-");
      const argv = await readFile(join(r.dir, "argv.txt"), "utf8");
      expect(argv.split("\n")).toEqual([
        "socket",
        "--tpm2",
        "--tpmstate",
        "dir=state",
        "--ctrl",
        "type=unixio,path=swtpm.sock",
        "--log",
        "level=1",
      ]);
      // QEMU gets the absolute path with its comma doubled.
      expect(defaultArgs(config({ tpm: r.tpm as VmTpm }))).toContainEqual([
        "-chardev",
        `socket,id=chrtpm,path=${socket.replace(/,/g, ",,")}`,
      ]);
    } finally {
      await r.step.cleanup?.(r.ctx);
    }
  });

  it("says what swtpm printed when it exits before it is ready", async () => {
    const r = await start("fail");
    await r.step.cleanup?.(r.ctx);
    expect(r.error).toBeInstanceOf(Error);
    expect(r.error).toMatchObject({ code: "KILN_QEMU_VTPM" });
    expect(r.error?.message).toMatch(
      /swtpm exited \(code 1\) before its control socket accepted a connection/,
    );
    expect(r.error?.message).toContain("swtpm: cannot open tpmstate: boom");
  });

  it("stops waiting when aborted, and its cleanup stops swtpm", async () => {
    const ac = new AbortController();
    // Abort once the fake swtpm runs (it wrote its pid), however long python takes to start.
    let abortedAt = 0;
    const earlier = dirs.length;
    const poll = setInterval(() => {
      const found = dirs.slice(earlier).some((d) => {
        try {
          return readdirSync(d).some((e) => existsSync(join(d, e, "pid.txt")));
        } catch {
          return false;
        }
      });
      if (found) {
        clearInterval(poll);
        abortedAt = Date.now();
        ac.abort(new Error("interrupted"));
      }
    }, 20);
    const r = await start("hang", ac.signal).finally(() => clearInterval(poll));
    const afterAbort = Date.now() - abortedAt;
    try {
      expect(r.error?.message).toBe("interrupted");
      expect(abortedAt).toBeGreaterThan(0);
      expect(afterAbort, "the wait did not stop promptly on abort").toBeLessThan(3000);
      const pid = Number(await readFile(join(r.dir, "pid.txt"), "utf8"));
      expect(pidAlive(pid)).toBe(true);
      await r.step.cleanup?.(r.ctx);
      expect(r.says.join("\n")).toContain("Stopping swtpm");
      expect(pidAlive(pid), "the fake swtpm is still running after cleanup").toBe(false);
    } finally {
      await r.step.cleanup?.(r.ctx);
    }
  });
});
