/**
 * The boot step: the SDK's boot-command step with QEMU's keyboard — QMP key events, or kiln's
 * VNC client with boot_command_method: vnc — typing under a signal that also ends when QEMU
 * exits; a failure comes with a screenshot and the serial console's tail.
 */
import { isKilnError, type Step } from "@kiln/core";
import { bootCommandStep, createQmpKeyDriver, createVncKeyDriver, VncClient } from "@kiln/sdk";
import { bootCommandHint, diagnosisHint, stderrTail } from "../diagnose.js";
import { qemuErrors } from "../errors.js";
import type { QemuOptions } from "../schema.js";
import { VM, VNC } from "../state.js";
import { failureReport, untilVmExits, VmExitedError } from "../vm.js";

export function bootStep(o: QemuOptions): Step {
  const step = bootCommandStep(o, {
    async keyboard(ctx, signal) {
      const vm = ctx.state.require(VM);
      const vnc = ctx.state.get(VNC)?.address;
      if (o.boot_command_method !== "vnc" || !vnc) return { driver: createQmpKeyDriver(vm.qmp, { signal }) };
      const { host, port, password } = vnc;
      const client = await VncClient.connect({
        host,
        port,
        ...(password ? { password } : {}),
        timeout: 20_000,
        signal,
      });
      ctx.ui.message(`Typing through VNC (RFB ${client.version}, ${host}:${port})`);
      return { driver: createVncKeyDriver(client, { signal }), via: "over VNC", close: () => client.close() };
    },
    guard: (ctx) => untilVmExits(ctx.signal, ctx.state.get(VM)),
    async failure(e, ctx, signal) {
      const vm = ctx.state.get(VM);
      const exited = signal.reason instanceof VmExitedError ? signal.reason : undefined;
      const report = await failureReport(ctx, vm);
      return qemuErrors.error(
        exited ? "KILN_QEMU_EXITED" : "KILN_QEMU_BOOT_COMMAND",
        exited
          ? `QEMU exited while typing the boot command (${exited.message}): ${stderrTail(vm?.proc.stderr() ?? "", 3)}`
          : `typing the boot command failed: ${e instanceof Error ? e.message : String(e)}${report.png ? ` (screenshot: ${report.png})` : ""}`,
        diagnosisHint(
          bootCommandHint(isKilnError(e) && e.code === "KILN_BOOT_COMMAND"),
          report,
          vm?.serialLog,
        ),
        e,
      );
    },
  });
  return { ...step, name: "boot" };
}
