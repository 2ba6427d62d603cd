/** Stop the VM before the OMI is made (unless disable_stop_vm), and wait until it is stopped. */
import { parseDuration, type Step } from "@kiln/core";
import type { BsuOptions } from "../schema.js";
import { API, VM } from "../state.js";
import { waitFor } from "../wait.js";
import { readVm } from "./run-vm.js";

export function stopVmStep(o: BsuOptions): Step {
  return {
    name: "stop vm",
    async run(ctx) {
      const { client } = ctx.state.require(API);
      const { id } = ctx.state.require(VM);
      const want = o.shutdown_behavior === "terminate" ? "terminated" : "stopped";
      if (o.disable_stop_vm)
        ctx.ui.say(`disable_stop_vm: waiting for the provisioners' shutdown to stop ${id}...`);
      else {
        ctx.ui.say(`Stopping VM ${id}...`);
        await client.call("StopVms", { VmIds: [id] }, ctx.signal);
      }
      await waitFor({
        what: `VM ${id} to stop`,
        timeoutMs: parseDuration(o.vm_ready_timeout),
        timeoutOption: "vm_ready_timeout",
        signal: ctx.signal,
        read: () => readVm(client, id, ctx.signal),
        state: (v) => v.State,
        done: [want],
        failed: want === "stopped" ? ["terminated", "shutting-down", "quarantine"] : ["quarantine"],
        reason: (v) => v.StateReason,
      });
    },
  };
}
