/** Shut the VM down with an ACPI power-button press through the API, and wait until it has stopped. */
import { abortableSleep, messageOf, type Step } from "@kiln/core";
import { errors } from "../errors.js";
import type { CommonOptions } from "../schema.js";
import { API, VM } from "../state.js";
import { vmPath } from "../vm.js";

export function shutdownStep(o: CommonOptions): Step {
  return {
    name: "shutdown",
    async run(ctx) {
      const client = ctx.state.require(API);
      const { vmid } = ctx.state.require(VM);
      const timeout = errors.duration("shutdown_timeout", o.shutdown_timeout);
      ctx.ui.say(`Shutting down VM ${vmid} (ACPI, through the API)...`);
      const upid = await client.post<string>(
        vmPath(o.node, vmid, "status/shutdown"),
        { timeout: Math.ceil(timeout / 1000) },
        ctx.signal,
      );
      await client
        .waitTask(o.node, upid, {
          timeoutMs: timeout + 30_000,
          signal: ctx.signal,
          what: `shutting down VM ${vmid}`,
        })
        .catch((e) => {
          if (ctx.signal.aborted) throw e;
          ctx.ui.message(messageOf(e));
        });
      const deadline = Date.now() + timeout;
      for (;;) {
        const st = await client.get<{ status: string }>(
          vmPath(o.node, vmid, "status/current"),
          undefined,
          ctx.signal,
        );
        if (st.status === "stopped") break;
        if (Date.now() > deadline)
          throw errors.error(
            "KILN_PROXMOX_SHUTDOWN_TIMEOUT",
            `VM ${vmid} did not stop within ${o.shutdown_timeout}`,
            "The guest ignores the ACPI power button (install acpid or qemu-guest-agent), or raise shutdown_timeout.",
          );
        await abortableSleep(1000, ctx.signal);
      }
      ctx.ui.say(`VM ${vmid} has stopped.`);
    },
  };
}
