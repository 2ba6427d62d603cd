/**
 * The qemu builder's checkpoints (docs/checkpoints.md): the disks as an immutable qcow2 layer
 * chain, memory and devices through migration to a file; a restore starts QEMU with -incoming
 * on a fresh overlay and reconnects. The engine decides when; this says how.
 */
import { copyFile, link } from "node:fs/promises";
import { join } from "node:path";
import {
  CHECKPOINTS,
  type CheckpointHooks,
  type CheckpointInfo,
  CheckpointUnusableError,
  messageOf,
  type Step,
} from "@kiln/core";
import {
  CD_IMAGE,
  FLOPPY_IMAGE,
  outputDirectory,
  outputDirectoryStep,
  restoredKeyStep,
  saveCheckpointKey,
} from "@kiln/sdk";
import { inputFiles, machineOptions, unsupported } from "./checkpoint-options.js";
import { qemuErrors } from "./errors.js";
import { freezeDisks, setBackingFile } from "./layers.js";
import { runTool } from "./proc.js";
import { type SavedVm, savedVm } from "./saved.js";
import type { QemuOptions } from "./schema.js";
import { httpStep, sourceStep } from "./shared-steps.js";
import { ACCEL, DISKS, EFI, SOURCE_FORMAT, VM } from "./state.js";
import { acceleratorStep } from "./steps/accelerator.js";
import { connectVmStep } from "./steps/connect.js";
import { launchStep } from "./steps/launch.js";
import { loadStateStep } from "./steps/load-state.js";
import { portStep } from "./steps/port.js";
import { restoreDiskStep } from "./steps/restore-disk.js";
import { vncPasswordStep } from "./steps/vnc-password.js";
import { saveVmState } from "./vmstate.js";

const versions = new Map<string, Promise<string>>();

/** `qemu-system-… --version`'s first line, once per binary. */
export function qemuVersion(bin: string): Promise<string> {
  let v = versions.get(bin);
  if (!v) {
    v = runTool(bin, ["--version"], { what: "read QEMU's version" }).then(
      (r) => r.stdout.split("\n")[0]?.trim() ?? "",
    );
    versions.set(bin, v);
  }
  return v;
}

/** A restore step whose failure means the checkpoint cannot be used (not that the build failed). */
function unusableOnFailure(step: Step, what: string): Step {
  return {
    ...step,
    async run(ctx) {
      try {
        await step.run(ctx);
      } catch (e) {
        if (ctx.signal.aborted) throw e;
        throw new CheckpointUnusableError(`${what}: ${messageOf(e)}`, { cause: e });
      }
    },
  };
}

function sameAcceleratorStep(o: QemuOptions, saved: SavedVm): Step {
  const inner = acceleratorStep(o);
  return {
    ...inner,
    async run(ctx) {
      await inner.run(ctx);
      const now = ctx.state.require(ACCEL);
      if (now !== saved.accel)
        throw new CheckpointUnusableError(`it was saved under ${saved.accel}, this run uses ${now}`);
    },
  };
}

export const qemuCheckpoints: CheckpointHooks<QemuOptions> = {
  unsupported,
  machineOptions,
  inputFiles,

  async save(o, ctx) {
    const vm = ctx.state.require(VM);
    const { scratch } = ctx.state.require(CHECKPOINTS);
    const disks = ctx.state.require(DISKS);
    const prev = ctx.previous ? savedVm(ctx.previous) : undefined;
    const sockDir = await ctx.tempDir("kiln-qemu-ck-");
    const t0 = Date.now();
    await vm.qmp.execute("stop");
    let frozen: Awaited<ReturnType<typeof freezeDisks>>;
    let vmstate: SavedVm["vmstate"];
    const efi = ctx.state.get(EFI);
    const floppy = ctx.state.get(FLOPPY_IMAGE);
    try {
      // Paused: the disks get new overlays (the layers below stop changing), then the memory.
      frozen = await freezeDisks(vm.qmp, disks.disks, scratch, o, ctx.signal);
      ctx.state.put(DISKS, { ...disks, disks: frozen.map((f) => f.overlay) });
      vmstate = await saveVmState(vm.qmp, join(ctx.dir, "vmstate"), sockDir, ctx.signal);
      if (efi) await copyFile(efi.vars, join(ctx.dir, "efivars.fd"));
      if (floppy) await copyFile(floppy, join(ctx.dir, "floppy.img"));
    } finally {
      if (vm.proc.running && !vm.qmp.closed) await vm.qmp.execute("cont").catch(() => {});
    }
    const paused = Date.now() - t0;
    // Running again: the frozen layers go into the checkpoint (links, not copies), each naming
    // its parent by the parent's place in the cache.
    const files: SavedVm["disks"] = [];
    for (const [i, f] of frozen.entries()) {
      const parent = prev?.disks[i];
      if (ctx.previous && parent)
        await setBackingFile(vm.qmp, f.overlay.node, f.layer, join(ctx.previous.dir, parent.file));
      const file = `disk${i}-${ctx.id}.${f.layer.format === "raw" ? "raw" : "qcow2"}`;
      await link(f.layer.file, join(ctx.dir, file));
      files.push({ file, format: f.layer.format });
    }
    const cdImage = ctx.state.get(CD_IMAGE);
    let cd = prev?.cd;
    if (!cd && cdImage) {
      await copyFile(cdImage.path, join(ctx.dir, "cd.iso"));
      cd = { key: ctx.key, file: "cd.iso" };
    }
    await saveCheckpointKey(ctx, ctx.dir);
    ctx.ui.message(
      `The machine was paused ${(paused / 1000).toFixed(1)} s to save its state (${Math.round(vmstate.bytes / 1e6)} MB)`,
    );
    const sourceFormat = ctx.state.get(SOURCE_FORMAT);
    const data: SavedVm = {
      qemu: await qemuVersion(o.qemu_binary),
      accel: ctx.state.require(ACCEL),
      disks: files,
      vmstate,
      ...(efi ? { efivars: "efivars.fd" } : {}),
      ...(floppy ? { floppy: "floppy.img" } : {}),
      ...(cd ? { cd } : {}),
      ...(sourceFormat ? { sourceFormat } : {}),
      resets: vm.resets,
    };
    return data as unknown as Record<string, unknown>;
  },

  async check(o, point: CheckpointInfo) {
    const saved = savedVm(point);
    const now = await qemuVersion(o.qemu_binary).catch(() => "");
    if (now !== saved.qemu)
      return `it was saved with ${saved.qemu || "another QEMU"}; this is ${now || "unknown"}`;
    return undefined;
  },

  resume(o, _ctx, point) {
    const saved = savedVm(point);
    // The machine had rebooted from its disk: a later reset must not boot the installer again.
    const bootFromDisk = saved.resets > 0;
    // The machine was connected when saved: it answers at once, or the checkpoint is no good.
    const { pause_before_connecting: _wait, ...now } = o;
    const reconnect = connectVmStep({ ...now, ssh_timeout: "1m" });
    const steps: Step[] = [
      outputDirectoryStep(o),
      restoredKeyStep(point),
      sourceStep(o),
      restoreDiskStep(o, point),
      httpStep(o),
      portStep(o),
      sameAcceleratorStep(o, saved),
      unusableOnFailure(launchStep(o, { incoming: true, bootFromDisk }), "QEMU did not start for it"),
      vncPasswordStep(),
      loadStateStep(point),
      unusableOnFailure({ ...reconnect, name: "reconnect" }, "the restored machine does not answer"),
    ];
    return steps.map(qemuErrors.wrap);
  },
};

/** Where the run's output goes (for the up-to-date record). */
export const qemuOutputPath = (o: QemuOptions, ctx: Parameters<typeof outputDirectory>[1]) =>
  outputDirectory(o, ctx);
