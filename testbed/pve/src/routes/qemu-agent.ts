/**
 * The PVE double's guest agent routes: /nodes/{node}/qemu/{vmid}/agent/* as qemu-server's
 * API2::Qemu::Agent serves them — each a qemu-guest-agent command (`guest-<name>`) answered
 * `{result: <the agent's return>}` by the VM's runner (the real agent on the Debian image).
 * PVE's checks first: `VM N is not running`, `No QEMU guest agent configured`, then the agent's
 * own `QEMU guest agent is not running` / `Agent error: …`.
 * Not served: exec, exec-status, file-read, file-write, set-user-password.
 */
import { ApiError } from "../api-error.js";
import { AgentCommandError, AgentNotRunningError } from "../runner.js";
import type { Cluster } from "../state.js";
import agentCommands from "./agent-commands.json" with { type: "json" };
import type { Handlers } from "./common.js";

/** GET commands (read-only) and POST commands, as in PVE's schema. */
export const AGENT_GET: readonly string[] = agentCommands.get;
export const AGENT_POST: readonly string[] = agentCommands.post;

/** `agentIsDown` tells which guest agents a fault keeps from answering. */
export function qemuAgentRoutes(cluster: Cluster, agentIsDown: (vmid: number) => boolean): Handlers {
  const { runner, getVm, toSpec } = cluster;
  const call = async (vmidParam: unknown, command: string) => {
    const vmid = Number(vmidParam);
    const vm = getVm(vmid);
    if (vm.status !== "running" || !runner.isRunning(vmid))
      throw new ApiError(500, `VM ${vmid} is not running`);
    if (!toSpec(vm).agent) throw new ApiError(500, "No QEMU guest agent configured");
    if (agentIsDown(vmid)) throw new ApiError(500, "QEMU guest agent is not running");
    try {
      const result = await runner.agent(vmid, command);
      return { result: result ?? null };
    } catch (e) {
      if (e instanceof AgentNotRunningError) throw new ApiError(500, e.message);
      if (e instanceof AgentCommandError) throw new ApiError(500, `Agent error: ${e.desc}`);
      throw e;
    }
  };
  const h: Handlers = {
    "GET /nodes/{node}/qemu/{vmid}/agent": (p) => {
      getVm(Number(p.vmid));
      return [...AGENT_GET, ...AGENT_POST].sort().map((name) => ({ name }));
    },
    "POST /nodes/{node}/qemu/{vmid}/agent": (p) => call(p.vmid, String(p.command)),
  };
  for (const c of AGENT_GET) h[`GET /nodes/{node}/qemu/{vmid}/agent/${c}`] = (p) => call(p.vmid, c);
  for (const c of AGENT_POST) h[`POST /nodes/{node}/qemu/{vmid}/agent/${c}`] = (p) => call(p.vmid, c);
  return h;
}
