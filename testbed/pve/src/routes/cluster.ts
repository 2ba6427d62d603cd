/** The PVE double's version, cluster and node listings: /version, /cluster/*, GET /nodes. */
import os from "node:os";
import { paramError } from "../api-error.js";
import { type Cluster, isTemplate } from "../state.js";
import { STORAGES } from "../volumes.js";
import { filterAudit } from "./access.js";
import { type Handlers, str } from "./common.js";

/** `fingerprint` is the node's certificate's (GET /nodes → ssl_fingerprint). */
export function clusterRoutes(cluster: Cluster, fingerprint: string): Handlers {
  const { node, vms, storage, vmSummary, vmidUsed } = cluster;
  return {
    "GET /version": () => ({ version: "9.1.1", release: "9.1", repoid: "kilnpve1" }),

    "GET /cluster/nextid": (p) => {
      if (p.vmid !== undefined) {
        const vmid = Number(p.vmid);
        if (vmidUsed(vmid)) throw paramError({ vmid: `VM ${vmid} already exists` });
        return String(vmid);
      }
      for (let id = 100; ; id++) if (!vmidUsed(id)) return String(id);
    },

    "GET /cluster/resources": (p, auth) => {
      const out: unknown[] = [];
      const type = str(p.type);
      if (!type || type === "vm")
        for (const vm of vms.values())
          if (filterAudit(auth, vm.vmid))
            out.push({
              id: `qemu/${vm.vmid}`,
              type: "qemu",
              node,
              ...vmSummary(vm),
              template: isTemplate(vm) ? 1 : 0,
              hastate: undefined,
            });
      if (!type || type === "storage") {
        const s = storage.storageInfo();
        for (const d of STORAGES)
          out.push({
            id: `storage/${node}/${d.id}`,
            type: "storage",
            storage: d.id,
            node,
            status: "available",
            plugintype: d.type,
            content: d.content.join(","),
            shared: 0,
            disk: s.used,
            maxdisk: s.total,
          });
      }
      if (!type || type === "node")
        out.push({
          id: `node/${node}`,
          type: "node",
          node,
          status: "online",
          maxcpu: os.cpus().length,
          maxmem: os.totalmem(),
          uptime: Math.floor(os.uptime()),
          level: "",
        });
      return out;
    },

    "GET /nodes": () => [
      {
        node,
        status: "online",
        id: `node/${node}`,
        type: "node",
        cpu: 0.01,
        maxcpu: os.cpus().length,
        mem: os.totalmem() - os.freemem(),
        maxmem: os.totalmem(),
        uptime: Math.floor(os.uptime()),
        level: "",
        ssl_fingerprint: fingerprint,
      },
    ],
  };
}
