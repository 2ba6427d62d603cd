/** The PVE double's guest agent routes: /nodes/{node}/qemu/{vmid}/agent/*. */
import { ApiError } from "../api-error.js";
import { AgentNotRunningError } from "../runner.js";
import type { Cluster } from "../state.js";
import type { Handlers } from "./common.js";

/** `agentIsDown` tells which guest agents a fault keeps from answering. */
export function qemuAgentRoutes(cluster: Cluster, agentIsDown: (vmid: number) => boolean): Handlers {
  const { runner, getVm, toSpec } = cluster;
  return {
    "GET /nodes/{node}/qemu/{vmid}/agent/network-get-interfaces": async (p) => {
      const vmid = Number(p.vmid);
      const vm = getVm(vmid);
      if (vm.status !== "running" || !runner.isRunning(vmid))
        throw new ApiError(500, `VM ${vmid} is not running`);
      if (!toSpec(vm).agent) throw new ApiError(500, "No QEMU guest agent configured");
      if (agentIsDown(vmid)) throw new ApiError(500, "QEMU guest agent is not running");
      try {
        return { result: await runner.agentInterfaces(vmid) };
      } catch (e) {
        if (e instanceof AgentNotRunningError) throw new ApiError(500, e.message);
        throw e;
      }
    },
  };
}
