/**
 * The load-state step (resuming a checkpoint): stream the saved memory and devices into the
 * QEMU started with -incoming, check the bytes against the saved SHA-256, then `cont`. A
 * state QEMU refuses or a damaged file makes the checkpoint unusable: the machine never ran.
 */
import { join } from "node:path";
import { type CheckpointInfo, CheckpointUnusableError, messageOf, type Step } from "@kiln/core";
import { savedVm } from "../saved.js";
import { VM } from "../state.js";
import { untilVmExits, VmExitedError } from "../vm.js";
import { loadVmState } from "../vmstate.js";

export function loadStateStep(point: CheckpointInfo): Step {
  return {
    name: "load state",
    async run(ctx) {
      const saved = savedVm(point);
      const vm = ctx.state.require(VM);
      const sockDir = await ctx.tempDir("kiln-qemu-in-");
      const guard = untilVmExits(ctx.signal, vm);
      const t0 = Date.now();
      try {
        await loadVmState(vm.qmp, join(point.dir, "vmstate"), saved.vmstate, sockDir, guard.signal);
      } catch (e) {
        if (ctx.signal.aborted) throw e;
        const exited = guard.signal.reason instanceof VmExitedError;
        const why = exited
          ? `QEMU exited: ${vm.proc.stderr().trim().split("\n").slice(-2).join(" / ")}`
          : messageOf(e);
        throw new CheckpointUnusableError(`its machine state cannot be loaded: ${why}`, { cause: e });
      } finally {
        guard.dispose();
      }
      vm.resets = saved.resets;
      await vm.qmp.execute("cont");
      ctx.ui.say(
        `The machine runs again where it was saved (${((Date.now() - t0) / 1000).toFixed(1)} s to load)`,
      );
    },
  };
}
