/**
 * proxmox-iso: create the VM — hardware, disks, network, the CD-ROMs (fixed slots first, then
 * the disks, then the other CD-ROMs), boot order disk-then-ISO — under the first free VM ID.
 * Its cleanup destroys the VM (if it is this build's) and the volumes, unless the build finished.
 */
import { randomBytes } from "node:crypto";
import type { Step } from "@kiln/core";
import type { Params } from "../client.js";
import { type BuildIso, cdromsOf } from "../isos.js";
import { assignCdromSlots, diskParams, hardwareParams, vmName } from "../params.js";
import { reserve, runOwned } from "../reserve.js";
import type { ProxmoxIsoOptions } from "../schema.js";
import { API, CDROMS, ISOS, VM, type VmRecord } from "../state.js";
import { destroyVm, ownerMark } from "../vm.js";

export function createVmStep(o: ProxmoxIsoOptions, list: BuildIso[]): Step {
  return {
    name: "create vm",
    async run(ctx) {
      const client = ctx.state.require(API);
      const vm: VmRecord = { created: false, owned: false, nonce: randomBytes(6).toString("hex") };
      ctx.state.put(VM, vm);
      const name = vmName(o, ctx.run.source);
      const cdroms = cdromsOf(list, ctx.state.require(ISOS).volids);
      // CD-ROMs with a fixed slot first, then the disks, then the other CD-ROMs after them.
      const fixed = new Set(cdroms.filter((c) => c.index !== undefined).map((c) => `${c.bus}${c.index}`));
      const disks = diskParams(o.disks ?? [], fixed);
      const cds = assignCdromSlots(cdroms, new Set([...fixed, ...Object.keys(disks)]));
      ctx.state.put(CDROMS, cdroms);
      if (!o.network_adapters?.length)
        ctx.ui.error("No network_adapters: the VM has no network, so kiln will not reach it over SSH.");
      await reserve(client, o, vm, ctx, "Creating", async (vmid) => {
        const params: Params = {
          vmid,
          name,
          description: ownerMark(vm, ctx),
          ...hardwareParams(o, vmid),
          ...disks,
          ...cds,
          ...(o.pool ? { pool: o.pool } : {}),
        };
        // Disks first (empty at first, so the firmware falls through to the CD), then the boot ISO.
        if (!o.boot)
          params.boot = `order=${[Object.keys(disks)[0], cdroms.find((c) => c.boot)?.slot].filter(Boolean).join(";")}`;
        await runOwned(client, o, vm, ctx, `creating VM ${vmid}`, o.node, () =>
          client.post<string>(`/nodes/${encodeURIComponent(o.node)}/qemu`, params, ctx.signal),
        );
      });
      ctx.buildVars.ID = String(vm.vmid);
    },
    cleanup: (ctx) => destroyVm(o, ctx),
  };
}
