/**
 * proxmox-clone: find the VM or template to clone (clone_vm / clone_vm_id), clone it under the
 * first free VM ID, then set what the build file changes — hardware, new disks and CD-ROMs in
 * free slots, and through cloud-init the login key and network settings for the build.
 * Its cleanup destroys the clone (if it is this build's) and the volumes, unless the build finished.
 */
import { randomBytes } from "node:crypto";
import type { RunContext, Step } from "@kiln/core";
import type { Params } from "../client.js";
import { errors } from "../errors.js";
import { type BuildIso, cdromsOf } from "../isos.js";
import { assignCdromSlots, diskParams, hardwareParams, vmName } from "../params.js";
import { reserve, runOwned } from "../reserve.js";
import type { ProxmoxCloneOptions } from "../schema.js";
import { API, BUILD_ONLY_CONFIG, CDROMS, ISOS, VM, type VmRecord } from "../state.js";
import { destroyVm, ownerMark, taskTimeout, vmPath } from "../vm.js";

interface ClusterVm {
  vmid: number;
  name?: string;
  node: string;
  template?: number;
  type: string;
}

/** The VM or template clone_vm / clone_vm_id names. */
function findSource(o: ProxmoxCloneOptions, vms: ClusterVm[]): ClusterVm {
  const qemuVms = vms.filter((v) => v.type === "qemu");
  if (o.clone_vm_id !== undefined) {
    const source = qemuVms.find((v) => v.vmid === o.clone_vm_id);
    if (!source)
      throw errors.error(
        "KILN_PROXMOX_CLONE",
        `clone_vm_id ${o.clone_vm_id}: no such VM or template`,
        "Check the ID in the Proxmox UI (and that this user may see it: VM.Audit).",
      );
    return source;
  }
  const hits = qemuVms.filter((v) => v.name === o.clone_vm);
  if (hits.length === 0)
    throw errors.error(
      "KILN_PROXMOX_CLONE",
      `clone_vm ${JSON.stringify(o.clone_vm)}: no VM or template has this name`,
      `Templates here: ${
        qemuVms
          .filter((v) => v.template)
          .map((v) => `${v.name ?? "?"} (${v.vmid})`)
          .join(", ") || "none"
      }.`,
    );
  if (hits.length > 1)
    throw errors.error(
      "KILN_PROXMOX_CLONE",
      `clone_vm ${JSON.stringify(o.clone_vm)} names ${hits.length} VMs (${hits.map((h) => h.vmid).join(", ")})`,
      "Use clone_vm_id to pick one.",
    );
  return hits[0] as ClusterVm;
}

export function cloneVmStep(o: ProxmoxCloneOptions, list: BuildIso[]): Step {
  return {
    name: "clone vm",
    async run(ctx) {
      const client = ctx.state.require(API);
      const vm: VmRecord = { created: false, owned: false, nonce: randomBytes(6).toString("hex") };
      ctx.state.put(VM, vm);
      const vms = await client.get<ClusterVm[]>("/cluster/resources", { type: "vm" }, ctx.signal);
      const src = findSource(o, vms);
      const full = o.full_clone;
      const name = vmName(o, ctx.run.source);
      await reserve(
        client,
        o,
        vm,
        ctx,
        `Cloning ${src.name ?? src.vmid} (${src.vmid}, ${full ? "full" : "linked"}) into`,
        async (vmid) => {
          await runOwned(client, o, vm, ctx, `cloning ${src.vmid} into ${vmid}`, src.node, () =>
            client.post<string>(
              `/nodes/${encodeURIComponent(src.node)}/qemu/${src.vmid}/clone`,
              {
                newid: vmid,
                name,
                full,
                description: ownerMark(vm, ctx),
                ...(src.node !== o.node ? { target: o.node } : {}),
                ...(o.pool ? { pool: o.pool } : {}),
              },
              ctx.signal,
            ),
          );
        },
      );
      ctx.buildVars.ID = String(vm.vmid);
      // Hardware the source left as it was, new disks in free slots, cloud-init, extra CD-ROMs.
      const path = (sub: string) => vmPath(o.node, vm.vmid, sub);
      const current = await client.get<Record<string, unknown>>(path("config"), undefined, ctx.signal);
      const taken = new Set(Object.keys(current).filter((k) => /^(ide|sata|scsi|virtio)\d+$/.test(k)));
      const cdroms = cdromsOf(list, ctx.state.require(ISOS).volids);
      const cds = assignCdromSlots(cdroms, taken);
      ctx.state.put(CDROMS, cdroms);
      const disks = diskParams(o.disks ?? [], new Set([...taken, ...Object.keys(cds)]));
      const conf: Params = {
        ...hardwareParams(o, vm.vmid),
        ...disks,
        ...cds,
        ...(await cloudInitParams(o, ctx)),
      };
      ctx.state.put(
        BUILD_ONLY_CONFIG,
        Object.keys(conf).filter((k) => /^(ciuser|sshkeys|ipconfig\d+|nameserver|searchdomain)$/.test(k)),
      );
      if (Object.keys(conf).length) {
        ctx.ui.message(`Configuring VM ${vm.vmid}: ${Object.keys(conf).join(", ")}`);
        await client.task("POST", o.node, path("config"), conf, {
          timeoutMs: taskTimeout(o),
          signal: ctx.signal,
          what: `configuring VM ${vm.vmid}`,
        });
      }
    },
    cleanup: (ctx) => destroyVm(o, ctx),
  };
}

/**
 * The cloud-init settings of the build: the key kiln logs in with reaches the clone through
 * cloud-init — the temporary one, or the public half of ssh_private_key_file (as Packer does) —
 * and the network settings.
 */
async function cloudInitParams(o: ProxmoxCloneOptions, ctx: RunContext): Promise<Params> {
  const conf: Params = {};
  const user = o.ssh_username;
  // The temporary key's, or the public half of ssh_private_key_file (temporaryKeyStep sets both).
  const publicKey = o.communicator === "ssh" ? String(ctx.buildVars.SSHPublicKey ?? "") : "";
  if (publicKey && user) {
    conf.ciuser = user;
    // PVE wants sshkeys URL-encoded (then form-encoded again by the request).
    conf.sshkeys = encodeURIComponent(`${publicKey.trim()}\n`);
  }
  for (const [i, ip] of (o.ipconfig ?? []).entries()) {
    conf[`ipconfig${i}`] = [
      ip.ip ? `ip=${ip.ip}` : "",
      ip.gateway ? `gw=${ip.gateway}` : "",
      ip.ip6 ? `ip6=${ip.ip6}` : "",
      ip.gateway6 ? `gw6=${ip.gateway6}` : "",
    ]
      .filter(Boolean)
      .join(",");
  }
  if (o.nameserver) conf.nameserver = o.nameserver;
  if (o.searchdomain) conf.searchdomain = o.searchdomain;
  return conf;
}
