/**
 * Floppy and vTPM on the QEMU command line: the arguments, the option checks, and real QEMU (paused
 * with -S, no guest needed) accepting them on the pc and q35 machines, with swtpm stopped after.
 */
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EventBus, type RunContext, StateBag } from "@kiln/core";
import { findFloppyTools, makeFloppy, QmpClient } from "@kiln/sdk";
import { afterAll, describe, expect, it } from "vitest";
import { defaultArgs, flattenArgs, type VmConfig } from "./args.js";
import { qemuBuilder } from "./builder.js";
import type { QemuOptions } from "./options.js";
import { startQemu, waitExit } from "./proc.js";
import { qemuSkip } from "./test-support.js";
import { checkTpmOptions, tpmDevice, tpmStep, type VmTpm } from "./tpm.js";

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

  it("prepare() takes floppy and vtpm options and refuses contradictions", () => {
    const base: QemuOptions = { iso_url: "x.iso" };
    const prepare = (o: QemuOptions) => qemuBuilder.prepare?.(o, {} as never);
    expect(() => prepare({ ...base, floppy_files: ["a"], floppy_label: "cidata", vtpm: true })).not.toThrow();
    expect(() => prepare({ ...base, floppy_label: "far-too-long-label" })).toThrow(/\[qemu\] floppy_label/);
    expect(() => prepare({ ...base, use_tpm1: true })).toThrow(/use_tpm1 has no effect without vtpm/);
    expect(() => prepare({ ...base, vtpm: true, use_tpm1: true, tpm_device_type: "tpm-crb" })).toThrow(
      /TPM 2\.0 interface/,
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
  return {
    run: { name: "b.qemu.s", build: "b", source: "s", type: "qemu", runUuid: "u" },
    state: new StateBag(),
    ui: bus.ui("b.qemu.s"),
    signal: new AbortController().signal,
    buildVars: {},
    secret: () => {},
    render: (v) => v,
    baseDir: dir,
    force: false,
    tempDir: async (prefix = "kiln-") => mkdtemp(join(dir, prefix)),
  };
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
        let tpm: VmTpm | undefined;
        const step = tpmStep(
          { vtpm: true },
          () => machine,
          (t) => {
            tpm = t;
          },
        );
        await step.run(ctx);
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

    it("swtpm's cleanup stops it even when QEMU never connected; no swtpm without vtpm", async () => {
      const dir = await mkdtemp(join(tmpdir(), "kiln-qemu-dev-"));
      dirs.push(dir);
      const ctx = context(dir);
      const says: string[] = [];
      ctx.ui = { ...ctx.ui, say: (t: string) => says.push(t) };
      const step = tpmStep(
        { vtpm: true, use_tpm1: true },
        () => "pc",
        () => {},
      );
      await step.run(ctx);
      const pid = Number(/pid (\d+)/.exec(says.join("\n"))?.[1]);
      expect(says.join("\n")).toMatch(/emulated TPM 1\.2 as tpm-tis/);
      expect(pidAlive(pid)).toBe(true);
      await step.cleanup?.(ctx);
      expect(pidAlive(pid)).toBe(false);
      // Nothing to do for a build without vtpm.
      const none = tpmStep(
        {},
        () => "pc",
        () => {
          throw new Error("must not attach");
        },
      );
      await none.run(ctx);
      await none.cleanup?.(ctx);
    });
  },
);
