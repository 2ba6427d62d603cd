/**
 * The running machine's life around the steps: a signal that ends a wait when QEMU exits, the
 * failure report (screenshot over QMP, serial console tail), and stopping QEMU.
 */
import { messageOf, type RunContext } from "@kiln/core";
import { type FailureReport, failureScreenshotPath, serialTail } from "./diagnose.js";
import { waitExit } from "./proc.js";
import type { Vm } from "./state.js";

export class VmExitedError extends Error {
  constructor(
    readonly code: number | null,
    readonly sig: string | null,
  ) {
    super(`QEMU exited (${sig ? `signal ${sig}` : `code ${code}`})`);
  }
}

/**
 * A signal that aborts with the step's signal and when QEMU exits (reason: a VmExitedError), so
 * a wait for the guest ends at once when the guest is gone.
 */
export function untilVmExits(
  signal: AbortSignal,
  vm: Vm | undefined,
): { signal: AbortSignal; dispose(): void } {
  const ac = new AbortController();
  const onAbort = () => ac.abort(signal.reason);
  if (signal.aborted) ac.abort(signal.reason);
  signal.addEventListener("abort", onAbort, { once: true });
  let active = true;
  vm?.proc.exited.then(({ code, signal: sig }) => {
    if (active && !ac.signal.aborted) ac.abort(new VmExitedError(code, sig));
  });
  return {
    signal: ac.signal,
    dispose() {
      active = false;
      signal.removeEventListener("abort", onAbort);
    },
  };
}

/** Save a screenshot (while QEMU runs) and read the serial console's tail, for an error message. */
export async function failureReport(ctx: RunContext, vm: Vm | undefined): Promise<FailureReport> {
  if (!vm) return { serial: "" };
  let png: string | undefined;
  if (vm.proc.running && !vm.qmp.closed) {
    const file = failureScreenshotPath(ctx.baseDir, ctx.run.name);
    try {
      await vm.qmp.screendump(file);
      png = file;
    } catch (e) {
      ctx.ui.error(`Could not save a screenshot: ${messageOf(e)}`);
    }
  }
  return { ...(png ? { png } : {}), serial: await serialTail(vm.serialLog) };
}

/** Stop QEMU: the ACPI power button, then quit, then SIGKILL. */
export async function stopVm(ctx: RunContext, vm: Vm): Promise<void> {
  if (vm.proc.running) {
    ctx.ui.say("Stopping the VM...");
    if (!vm.qmp.closed) await vm.qmp.systemPowerdown().catch(() => {});
    if (!(await waitExit(vm.proc, 3000))) {
      if (!vm.qmp.closed) await vm.qmp.quit().catch(() => {});
      if (!(await waitExit(vm.proc, 2000))) {
        vm.proc.child.kill("SIGKILL");
        await waitExit(vm.proc, 5000);
      }
    }
  }
  vm.qmp.destroy();
}
