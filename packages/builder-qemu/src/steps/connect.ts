/**
 * The connect step: the SDK's, under a signal that also ends when QEMU exits, so a guest that
 * powered off fails the wait at once; an SSH timeout or a gone QEMU comes with a screenshot and
 * the serial console's tail.
 */
import { messageOf, type Step, StepTimeoutError } from "@kiln/core";
import { connectStep } from "@kiln/sdk";
import { diagnosisHint, SSH_TIMEOUT_HINT, sshWhere, VM_GONE_HINT } from "../diagnose.js";
import { qemuErrors } from "../errors.js";
import type { QemuOptions } from "../schema.js";
import { HOST_PORT, VM } from "../state.js";
import { failureReport, untilVmExits, VmExitedError } from "../vm.js";

export function connectVmStep(o: QemuOptions): Step {
  // The forwarded port is local: trying every second costs nothing and sees SSH up to 4 s sooner.
  const inner = connectStep(o, o.net_bridge ? {} : { retry: { initialMs: 250, maxMs: 1000 } });
  return {
    name: "connect",
    async run(ctx) {
      const vm = ctx.state.get(VM);
      const guard = untilVmExits(ctx.signal, vm);
      try {
        await inner.run({ ...ctx, signal: guard.signal });
      } catch (e) {
        if (ctx.signal.aborted && !(ctx.signal.reason instanceof StepTimeoutError)) throw e;
        const exited = guard.signal.reason instanceof VmExitedError ? guard.signal.reason : undefined;
        const report = await failureReport(ctx, vm);
        const where = sshWhere(o, ctx.state.get(HOST_PORT));
        if (exited) {
          throw qemuErrors.error(
            "KILN_QEMU_EXITED",
            `QEMU exited while waiting for SSH on ${where} (${exited.message})`,
            diagnosisHint(VM_GONE_HINT, report, vm?.serialLog),
            e,
          );
        }
        throw qemuErrors.error(
          "KILN_QEMU_SSH_TIMEOUT",
          `SSH on ${where} did not become available: ${messageOf(e)}${report.png ? `. Screenshot saved to ${report.png}` : ""}`,
          diagnosisHint(SSH_TIMEOUT_HINT, report, vm?.serialLog),
          e,
        );
      } finally {
        guard.dispose();
      }
    },
    cleanup: (ctx) => inner.cleanup?.(ctx) ?? Promise.resolve(),
  };
}
