/**
 * The shutdown step: shutdown_command over the communicator, or (communicator: none) wait for
 * the machine to power off by itself, or (no shutdown_command) halt it at once as Packer does;
 * then wait up to shutdown_timeout for QEMU to exit.
 */
import { messageOf, type Step } from "@kiln/core";
import { COMMUNICATOR } from "@kiln/sdk";
import { diagnosisHint, shutdownHint } from "../diagnose.js";
import { qemuErrors } from "../errors.js";
import { waitExit } from "../proc.js";
import type { QemuOptions } from "../schema.js";
import { VM } from "../state.js";
import { failureReport } from "../vm.js";

export function shutdownStep(o: QemuOptions): Step {
  return {
    name: "shutdown",
    async run(ctx) {
      const vm = ctx.state.require(VM);
      const timeout = qemuErrors.duration("shutdown_timeout", o.shutdown_timeout);
      let how: string;
      const comm = ctx.state.get(COMMUNICATOR);
      if (o.shutdown_command && comm && o.communicator !== "none") {
        how = `shutdown_command (${o.shutdown_command})`;
        ctx.ui.say(`Running the shutdown command: ${o.shutdown_command}`);
        const r = await comm
          .exec(o.shutdown_command, {
            expectDisconnect: true,
            signal: ctx.signal,
            onStdout: (c) => ctx.ui.output("stdout", c),
            onStderr: (c) => ctx.ui.output("stderr", c),
          })
          .catch((e: unknown) => {
            // The machine may drop the connection at any moment once it powers off.
            ctx.ui.message(`shutdown command: ${messageOf(e)}`);
            return undefined;
          });
        if (r && r.exitCode !== null && r.exitCode !== 0 && !r.disconnected)
          ctx.ui.error(
            `The shutdown command exited with ${r.exitCode}; waiting for the machine to stop anyway.`,
          );
      } else if (o.communicator === "none") {
        // As Packer: without a communicator the machine is expected to power off by itself
        // (the end of an unattended install, or a seed's `runcmd: [poweroff]`).
        how = "the build had nothing more to do (communicator: none)";
        ctx.ui.say("Waiting for the machine to power off by itself (communicator: none)...");
      } else {
        // As Packer: without a shutdown_command the VM is halted at once (QEMU quits; its disk
        // caches are written, the guest is not asked). Set shutdown_command for a clean shutdown.
        how = "halting it (no shutdown_command)";
        ctx.ui.say("Halting the virtual machine (no shutdown_command; set one for a clean shutdown)...");
        await vm.qmp.quit().catch((e: unknown) => ctx.ui.message(`QMP quit: ${messageOf(e)}`));
      }
      ctx.ui.message(`Waiting up to ${o.shutdown_timeout} for the machine to stop...`);
      if (!(await waitExit(vm.proc, timeout, ctx.signal))) {
        const report = await failureReport(ctx, vm);
        throw qemuErrors.error(
          "KILN_QEMU_SHUTDOWN_TIMEOUT",
          `the machine did not stop within ${o.shutdown_timeout} after ${how}`,
          diagnosisHint(shutdownHint(o), report, vm.serialLog),
        );
      }
      ctx.ui.say("The machine has stopped.");
    },
  };
}
