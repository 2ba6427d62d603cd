/**
 * The vtpm step: start swtpm before QEMU and leave its socket and device model under TPM; its
 * cleanup (after QEMU's, cleanups running in reverse order) stops swtpm however the build ends.
 */
import type { ChildProcess } from "node:child_process";
import type { Step } from "@kiln/core";
import { machineType } from "../defaults.js";
import type { QemuOptions } from "../schema.js";
import { TPM } from "../state.js";
import { spawnSwtpm, stopSwtpm, tpmDevice, waitSwtpmReady } from "../tpm.js";

export function tpmStep(
  o: Pick<QemuOptions, "vtpm" | "use_tpm1" | "tpm_device_type" | "machine_type" | "efi_boot">,
): Step {
  let child: ChildProcess | undefined;
  return {
    name: "vtpm",
    async run(ctx) {
      if (!o.vtpm) return;
      const sw = await spawnSwtpm(ctx, o.use_tpm1 === true);
      child = sw.proc;
      await waitSwtpmReady(sw, ctx.signal);
      const device = tpmDevice(o, machineType(o));
      ctx.state.put(TPM, { socket: sw.socket, device });
      ctx.ui.say(
        `Started swtpm: an emulated TPM ${o.use_tpm1 ? "1.2" : "2.0"} as ${device} (pid ${sw.proc.pid})`,
      );
    },
    async cleanup(ctx) {
      ctx.state.delete(TPM);
      const proc = child;
      child = undefined;
      if (!proc) return;
      if (proc.exitCode === null && proc.signalCode === null) ctx.ui.say("Stopping swtpm...");
      await stopSwtpm(proc);
    },
  };
}
