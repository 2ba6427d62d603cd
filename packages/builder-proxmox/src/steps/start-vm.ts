/** Start the VM. */
import type { Step } from "@kiln/core";
import type { CommonOptions } from "../schema.js";
import { API, VM } from "../state.js";
import { taskTimeout, vmPath } from "../vm.js";

export function startVmStep(o: CommonOptions): Step {
  return {
    name: "start vm",
    async run(ctx) {
      const { vmid } = ctx.state.require(VM);
      ctx.ui.say(`Starting VM ${vmid}...`);
      await ctx.state.require(API).task("POST", o.node, vmPath(o.node, vmid, "status/start"), undefined, {
        timeoutMs: taskTimeout(o),
        signal: ctx.signal,
        what: `starting VM ${vmid}`,
      });
    },
  };
}
