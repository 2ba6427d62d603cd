/**
 * Launch the VM (`CreateVms` with a ClientToken, so a retried request makes one VM), wait until
 * it runs, tag it and its volumes, link the public IP, and find the address SSH connects to.
 * Cleanup deletes the VM, waits until it is terminated, then deletes the launch volumes that
 * outlived it (delete_on_vm_deletion: false): the OMI has their snapshots already.
 */
import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { abortableSleep, messageOf, parseDuration, type Step, throwIfAborted } from "@kiln/core";
import { SSH_ADDRESS } from "@kiln/sdk";
import { isNotFound } from "../client.js";
import { errors } from "../errors.js";
import { tagList, userDataParam, vmMapping } from "../params.js";
import type { BsuOptions } from "../schema.js";
import { API, KEYPAIR, NETWORK, PUBLIC_IP, SECURITY_GROUPS, SOURCE_IMAGE, VM } from "../state.js";
import { waitFor } from "../wait.js";

export interface VmView {
  VmId: string;
  State: string;
  StateReason?: string;
  PublicIp?: string;
  PrivateIp?: string;
  PublicDnsName?: string;
  PrivateDnsName?: string;
  NetId?: string;
  BlockDeviceMappings?: Array<{ DeviceName: string; Bsu?: { VolumeId?: string } }>;
}

export const readVm = async (
  client: { call<T>(a: string, b: Record<string, unknown>, s?: AbortSignal): Promise<T> },
  id: string,
  signal?: AbortSignal,
): Promise<VmView | undefined> => {
  try {
    const r = await client.call<{ Vms?: VmView[] }>("ReadVms", { Filters: { VmIds: [id] } }, signal);
    return r.Vms?.[0];
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
};

/** The address of ssh_interface, or the plugin's order: public IP, private IP in a Net, public DNS. */
export function sshHost(vm: VmView, iface: BsuOptions["ssh_interface"]): string | undefined {
  switch (iface) {
    case "public_ip":
      return vm.PublicIp || undefined;
    case "private_ip":
      return vm.PrivateIp || undefined;
    case "public_dns":
      return vm.PublicDnsName || undefined;
    case "private_dns":
      return vm.PrivateDnsName || undefined;
    default:
      return vm.PublicIp || (vm.NetId ? vm.PrivateIp : undefined) || vm.PublicDnsName || undefined;
  }
}

export function runVmStep(o: BsuOptions): Step {
  // The CreateVms in flight: an interrupted run does not wait for it, its cleanup does.
  let creating: Promise<unknown> | undefined;
  return {
    name: "run vm",
    async run(ctx) {
      const { client } = ctx.state.require(API);
      const image = ctx.state.require(SOURCE_IMAGE);
      const net = ctx.state.get(NETWORK);
      const groups = ctx.state.require(SECURITY_GROUPS);
      const kp = ctx.state.get(KEYPAIR);
      let text = o.user_data;
      if (o.user_data_file) {
        const f = resolve(ctx.baseDir, o.user_data_file);
        try {
          text = await readFile(f, "utf8");
        } catch (e) {
          throw errors.config(`cannot read user_data_file ${f}: ${messageOf(e)}`);
        }
      }
      const userData = userDataParam(text, o.user_data_base64 === true);
      for (const b of o.launch_block_device_mappings ?? [])
        if (!b.no_device && b.delete_on_vm_deletion === undefined)
          ctx.ui.message(
            `${b.device_name}: delete_on_vm_deletion is not set, so VMs of the OMI keep this volume when they are deleted (the build itself deletes its own).`,
          );
      const body: Record<string, unknown> = {
        ImageId: image.ImageId,
        VmType: o.vm_type,
        MinVmsCount: 1,
        MaxVmsCount: 1,
        ClientToken: randomUUID(),
        SecurityGroupIds: groups.ids,
        VmInitiatedShutdownBehavior: o.shutdown_behavior,
        ...(userData ? { UserData: userData } : {}),
        ...(kp ? { KeypairName: kp.name } : {}),
        ...(net?.subnetId ? { SubnetId: net.subnetId } : {}),
        ...(net?.subregion && !net.subnetId ? { Placement: { SubregionName: net.subregion } } : {}),
        ...(o.bsu_optimized ? { BsuOptimized: true } : {}),
        ...(o.boot_mode ? { BootMode: o.boot_mode } : {}),
        ...(o.launch_block_device_mappings?.length
          ? { BlockDeviceMappings: o.launch_block_device_mappings.map(vmMapping) }
          : {}),
      };
      // Not abortable: an interrupted request may still have made the VM, and then cleanup must know its id.
      const call = client.call<{ Vms: VmView[] }>("CreateVms", body).then((r) => {
        ctx.state.put(VM, { id: r.Vms[0]?.VmId as string, volumeIds: [] });
        return r;
      });
      creating = call;
      const id = (await call).Vms[0]?.VmId as string;
      throwIfAborted(ctx.signal, "run vm");
      ctx.buildVars.ID = id;
      ctx.ui.say(`Launched VM ${id} (${o.vm_type}); waiting for it to run...`);
      const timeoutMs = parseDuration(o.vm_ready_timeout);
      const vm = (await waitFor({
        what: `VM ${id} to run`,
        timeoutMs,
        timeoutOption: "vm_ready_timeout",
        signal: ctx.signal,
        read: () => readVm(client, id, ctx.signal),
        state: (v) => v.State,
        done: ["running"],
        failed: ["terminated", "shutting-down", "quarantine", "stopped", "stopping"],
        reason: (v) => v.StateReason,
      })) as VmView;
      const volumeIds = (vm.BlockDeviceMappings ?? [])
        .map((m) => m.Bsu?.VolumeId)
        .filter((v): v is string => !!v);
      ctx.state.put(VM, { id, volumeIds });
      await client.call(
        "CreateTags",
        { ResourceIds: [id], Tags: tagList({ Name: "Packer Builder", ...ctx.render(o.run_tags ?? {}) }) },
        ctx.signal,
      );
      if (o.run_volume_tags && volumeIds.length)
        await client.call(
          "CreateTags",
          { ResourceIds: volumeIds, Tags: tagList(ctx.render(o.run_volume_tags)) },
          ctx.signal,
        );
      const ip = ctx.state.get(PUBLIC_IP);
      if (ip) {
        await client.call("LinkPublicIp", { PublicIpId: ip.id, VmId: id }, ctx.signal);
        ctx.ui.say(`Linked the public IP ${ip.address} to ${id}.`);
      }
      let host: string | undefined;
      for (let attempt = 0; !host; attempt++) {
        const v = await readVm(client, id, ctx.signal);
        host = v ? sshHost(v, o.ssh_interface) : undefined;
        if (host) break;
        if (attempt >= 5)
          throw errors.error(
            "KILN_OUTSCALE_ADDRESS",
            `VM ${id} has no ${o.ssh_interface ?? "public IP, private IP or DNS name"} to connect to`,
            "A VM in a Net is reachable from outside only with associate_public_ip_address: true (or connect with ssh_interface: private_ip from inside the Net).",
          );
        await abortableSleep(500 * (attempt + 1), ctx.signal);
      }
      if (o.communicator !== "none") ctx.state.put(SSH_ADDRESS, { host, port: o.ssh_port });
      ctx.buildVars.Host = host;
    },
    async cleanup(ctx) {
      await creating?.catch(() => {});
      const vm = ctx.state.get(VM);
      const api = ctx.state.get(API);
      if (!vm || !api) return;
      const { client } = api;
      const seen = await readVm(client, vm.id);
      const volumeIds = new Set([
        ...vm.volumeIds,
        ...(seen?.BlockDeviceMappings ?? []).map((m) => m.Bsu?.VolumeId).filter((v): v is string => !!v),
      ]);
      if (seen && seen.State !== "terminated") {
        await client.call("DeleteVms", { VmIds: [vm.id] }).catch((e) => {
          if (!isNotFound(e)) throw e;
        });
        ctx.ui.say(`Deleting VM ${vm.id}...`);
        // Its own deadline: the run's signal may be aborted already (Ctrl-C), the cleanup must finish.
        await waitFor({
          what: `VM ${vm.id} to terminate`,
          timeoutMs: parseDuration(o.vm_ready_timeout),
          timeoutOption: "vm_ready_timeout",
          signal: new AbortController().signal,
          read: () => readVm(client, vm.id),
          state: (v) => v.State,
          done: ["terminated"],
          failed: [],
          goneIsDone: true,
        });
      }
      for (const v of volumeIds) {
        try {
          const r = await client.call<{ Volumes?: Array<{ State: string }> }>("ReadVolumes", {
            Filters: { VolumeIds: [v] },
          });
          if (!r.Volumes?.length) continue;
          await client.call("DeleteVolume", { VolumeId: v });
          ctx.ui.say(`Deleted the launch volume ${v}.`);
        } catch (e) {
          if (!isNotFound(e)) throw e;
        }
      }
      ctx.state.delete(VM);
    },
  };
}
