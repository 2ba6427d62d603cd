/**
 * Fault injection for the PVE double: error or hanging answers for matching requests, slow or
 * failing tasks, a guest agent that does not answer, VMIDs taken elsewhere, lost guests.
 */
import { type FaultSpec, hitsRequest } from "@kiln-testbed/doubles";
import { FakeRunner } from "./runner.js";
import type { Cluster } from "./state.js";

export type { FaultSpec };

export interface Faults {
  /** Answers matching requests with an error instead of handling them. Returns an id. */
  inject(f: FaultSpec): number;
  remove(id: number): void;
  /** Makes tasks of a type (or all, "*") take at least ms. */
  slowTasks(ms: number, type?: string): void;
  /** Makes the next `times` tasks of a type end with exitstatus `message`. */
  failTasks(type: string, message: string, times?: number): void;
  /** The guest agent of a VM (or every VM, when vmid is omitted) does not answer. */
  agentDown(vmid?: number, down?: boolean): void;
  /** Marks a VMID as used elsewhere in the cluster (on another node). */
  takeVmid(vmid: number, node?: string): void;
  /** The guest disappears: the runner's VM is gone, PVE reports it stopped. */
  loseGuest(vmid: number): Promise<void>;
  clear(): void;
}

export type FaultState = ReturnType<typeof createFaults>;

/** The faults API and what the server, the tasks and the routes ask of it. */
export function createFaults(cluster: Cluster, taskDurationMs?: number | Record<string, number>) {
  const { runner, vms, foreignVmids } = cluster;
  let faultSeq = 0;
  const faultList = new Map<number, FaultSpec & { left: number }>();
  const slow = new Map<string, number>();
  const failing = new Map<string, { message: string; left: number }>();
  const agentDownSet = new Set<number | "*">();

  /** How long a task of `type` takes at least, in ms. */
  const durationOf = (type: string): number => {
    const base =
      typeof taskDurationMs === "number"
        ? taskDurationMs
        : (taskDurationMs?.[type] ?? taskDurationMs?.["*"] ?? 30);
    return Math.max(base, slow.get(type) ?? 0, slow.get("*") ?? 0);
  };
  /** The exitstatus a task of `type` is forced to end with, if any (counts it down). */
  const forcedFailure = (type: string): string | undefined => {
    const f = failing.get(type) ?? failing.get("*");
    if (!f) return undefined;
    if (--f.left <= 0) failing.delete(failing.has(type) ? type : "*");
    return f.message;
  };
  const agentIsDown = (vmid: number) => agentDownSet.has(vmid) || agentDownSet.has("*");
  /** The fault that hits a request to `rel` (the path below /api2/json), counted down. */
  const takeFault = (rel: string, method: string): FaultSpec | undefined => {
    for (const [id, f] of faultList) {
      if (!hitsRequest(f, rel, method)) continue;
      if (--f.left <= 0) faultList.delete(id);
      return f;
    }
    return undefined;
  };

  const faults: Faults = {
    inject(f) {
      const id = ++faultSeq;
      faultList.set(id, { ...f, left: f.times ?? Number.POSITIVE_INFINITY });
      return id;
    },
    remove(id) {
      faultList.delete(id);
    },
    slowTasks(ms, type = "*") {
      slow.set(type, ms);
    },
    failTasks(type, message, times = 1) {
      failing.set(type, { message, left: times });
    },
    agentDown(vmid, down = true) {
      const k = vmid ?? "*";
      if (down) agentDownSet.add(k);
      else agentDownSet.delete(k);
    },
    takeVmid(vmid, otherNode = "pve2") {
      foreignVmids.set(vmid, otherNode);
    },
    async loseGuest(vmid) {
      if (runner instanceof FakeRunner) runner.crash(vmid);
      else await runner.stop(vmid);
      const vm = vms.get(vmid);
      if (vm) vm.status = "stopped";
    },
    clear() {
      faultList.clear();
      slow.clear();
      failing.clear();
      agentDownSet.clear();
    },
  };

  return { faults, durationOf, forcedFailure, agentIsDown, takeFault };
}
