/** VMs: CreateVms (root and launch volumes from disk files, seed, reachability), Read, Stop, Start, Delete. */
import { fault } from "../api-error.js";
import { isoNow, newId, type Vm, type Volume } from "../state.js";
import { type Body, type Handlers, matches, need, str, strs, view, type World } from "./common.js";

/** API device names: root /dev/sda1; others /dev/sdX, /dev/sdXX, /dev/xvdX, /dev/xvdXX (SPEC LinkVolumeRequest). */
export const DEVICE_NAME = /^\/dev\/(sda1|sd[b-z][a-z]?|xvd[b-z][a-z]?)$/;
const MAX_USER_DATA = 500 * 1024;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

const VM_FILTERS: Record<string, (v: Vm) => unknown> = {
  VmIds: (v) => v.VmId,
  VmStateNames: (v) => v.State,
  ImageIds: (v) => v.ImageId,
  KeypairNames: (v) => v.KeypairName,
  SubnetIds: (v) => v.SubnetId,
  NetIds: (v) => v.NetId,
  SecurityGroupIds: (v) => v.SecurityGroups.map((s) => s.SecurityGroupId),
};

export function vmRoutes(w: World): Handlers {
  const r = w.region;
  const visible = (v: Vm) =>
    v.State !== "terminated" ||
    (!w.faults.dropTerminated && Date.now() - (v._terminatedAt ?? 0) < w.durations.terminatedVisible);

  const read = (body: Body) => {
    const filters = body.Filters as Record<string, unknown> | undefined;
    const ids = strs(filters?.VmIds);
    for (const id of ids) if (!r.vms.has(id)) throw fault.notFound("VmId", id, "5063");
    return [...r.vms.values()].filter((v) => visible(v) && matches(v, filters, VM_FILTERS as never));
  };

  const terminate = (vm: Vm) => {
    vm.State = "shutting-down";
    void w.machines.kill(vm.VmId);
    w.transition("vm", w.durations.vmTerminate, () => {
      vm.State = "terminated";
      vm._terminatedAt = Date.now();
      for (const m of vm.BlockDeviceMappings) {
        const vol = r.volumes.get(m.Bsu.VolumeId);
        if (!vol) continue;
        if (m.Bsu.DeleteOnVmDeletion) {
          r.volumes.delete(vol.VolumeId);
          w.disks.removeVolume(vol.VolumeId);
        } else {
          vol.LinkedVolumes = [];
          vol.State = "available";
        }
      }
      vm.BlockDeviceMappings = [];
      for (const ip of r.publicIps.values())
        if (ip.VmId === vm.VmId) {
          delete ip.VmId;
          delete ip.LinkPublicIpId;
        }
      vm.PublicIp = undefined;
    });
  };

  // A guest that stops by itself (poweroff inside, crash): the VM follows.
  w.machines.onExit((id) => {
    const vm = r.vms.get(id);
    if (!vm) return;
    if (
      !vm._lost &&
      (vm.State === "stopping" || (vm.State === "running" && vm.VmInitiatedShutdownBehavior === "stop"))
    ) {
      vm.State = "stopped";
    } else if (vm.State === "running" || vm.State === "pending") {
      terminate(vm);
    }
    void w.syncReach(id);
  });

  const boot = async (vm: Vm) => {
    const disks = vm.BlockDeviceMappings.map((m) => w.disks.volumePath(m.Bsu.VolumeId));
    const kp = vm.KeypairName ? r.keypairs.get(vm.KeypairName) : undefined;
    try {
      await w.machines.start({
        vmId: vm.VmId,
        disks,
        memoryMiB: 256,
        seed: {
          hostname: vm.VmId,
          sshAuthorizedKeys: kp ? [kp._publicKey] : [],
          ...(vm._userData !== undefined ? { userData: vm._userData } : {}),
        },
      });
    } catch (e) {
      vm.State = "terminated";
      vm.StateReason = `Server.InternalError: ${(e as Error).message}`;
      vm._terminatedAt = Date.now();
      w.log(`${vm.VmId}: machine failed to start: ${(e as Error).message}`);
      return;
    }
    w.transition("vm", w.durations.vmStart, (failure) => {
      if (vm.State !== "pending") return;
      if (failure) {
        vm.StateReason = failure;
        terminate(vm);
        return;
      }
      vm.State = "running";
      void w.syncReach(vm.VmId);
    });
  };

  return {
    ReadVms: (body) => ({ Vms: read(body).map(view) }),
    ReadVmsState: (body) => {
      const filters = body.Filters as Record<string, unknown> | undefined;
      const ids = strs(filters?.VmIds);
      const all = [...r.vms.values()].filter((v) => visible(v) && (!ids.length || ids.includes(v.VmId)));
      return {
        VmStates: all
          .filter((v) => body.AllVms === true || v.State === "running")
          .map((v) => ({
            VmId: v.VmId,
            VmState: v.State,
            SubregionName: v.Placement.SubregionName,
            MaintenanceEvents: [],
          })),
      };
    },

    async CreateVms(body, call) {
      const token = str(body.ClientToken);
      if (token) {
        const same = [...r.vms.values()].find((v) => v.ClientToken === token);
        if (same) return { Vms: [view(same)] };
      }
      const imageId = body.ImageId as string;
      const image = need(r.images.get(imageId), "ImageId", imageId, "5023");
      if (image.State !== "available") throw fault.wrongState(`The image '${imageId}' is ${image.State}.`);
      if (
        image.AccountId !== call.accountId &&
        !image.PermissionsToLaunch.GlobalPermission &&
        !image.PermissionsToLaunch.AccountIds.includes(call.accountId)
      )
        throw fault.notFound("ImageId", imageId, "5023");
      const min = (body.MinVmsCount as number | undefined) ?? 1;
      const max = (body.MaxVmsCount as number | undefined) ?? 1;
      if (min !== 1 || max !== 1)
        throw fault.badValue("The double runs one VM per CreateVms (MinVmsCount = MaxVmsCount = 1).");
      let userData: string | undefined;
      if (body.UserData !== undefined) {
        const u = body.UserData as string;
        if (!BASE64.test(u)) throw fault.badValue("The parameter 'UserData' must be Base64-encoded.");
        if (u.length > MAX_USER_DATA)
          throw fault.badValue("The parameter 'UserData' is larger than 500 KiB.");
        userData = Buffer.from(u, "base64").toString("utf8");
      }
      const subnetId = str(body.SubnetId) || undefined;
      const subnet = subnetId ? need(r.subnets.get(subnetId), "SubnetId", subnetId, "5047") : undefined;
      const placement = (body.Placement as { SubregionName?: string } | undefined)?.SubregionName;
      const subregion = subnet?.SubregionName ?? placement ?? r.subregions[0] ?? `${r.name}a`;
      if (!r.subregions.includes(subregion)) throw fault.notFound("SubregionName", subregion, "5009");
      const keypairName = str(body.KeypairName);
      if (keypairName) need(r.keypairs.get(keypairName), "KeypairName", keypairName, "5071");
      const sgIds = strs(body.SecurityGroupIds);
      const sgNames = strs(body.SecurityGroups);
      const groups = [
        ...sgIds.map((id) => need(r.securityGroups.get(id), "SecurityGroupId", id, "5020")),
        ...sgNames.map((n) =>
          need(
            [...r.securityGroups.values()].find((g) => g.SecurityGroupName === n),
            "SecurityGroupName",
            n,
            "5020",
          ),
        ),
      ];
      const netId = subnet?.NetId;
      for (const g of groups)
        if ((g.NetId ?? undefined) !== netId)
          throw fault.badValue(
            `The security group '${g.SecurityGroupId}' is not in the VM's ${netId ? `Net ${netId}` : "public cloud"}.`,
          );
      if (!groups.length) {
        const def = [...r.securityGroups.values()].find(
          (g) => g.SecurityGroupName === "default" && g.NetId === netId,
        );
        if (def) groups.push(def);
      }

      // Volumes: the image's mappings, changed or added to by the request's.
      const mappings = new Map(image.BlockDeviceMappings.map((m) => [m.DeviceName, { ...m.Bsu }]));
      for (const m of (body.BlockDeviceMappings as Array<Record<string, unknown>> | undefined) ?? []) {
        const dev = m.DeviceName as string | undefined;
        if (!dev || !DEVICE_NAME.test(dev))
          throw fault.badValue(
            `The device name '${dev ?? ""}' is not valid: /dev/sda1 for the root, else /dev/sdX or /dev/xvdX (X in b–z).`,
          );
        if (m.NoDevice !== undefined) {
          mappings.delete(dev);
          continue;
        }
        const bsu = (m.Bsu ?? {}) as Record<string, unknown>;
        const prev = mappings.get(dev) ?? {};
        mappings.set(dev, { ...prev, ...bsu });
      }
      const vmId = newId("i");
      const now = isoNow();
      const volumes: Volume[] = [];
      const bdm: Vm["BlockDeviceMappings"] = [];
      const order = [...mappings.keys()].sort((a, b) =>
        a === image.RootDeviceName ? -1 : b === image.RootDeviceName ? 1 : a.localeCompare(b),
      );
      try {
        for (const dev of order) {
          const bsu = mappings.get(dev) as Record<string, unknown>;
          const snapId = bsu.SnapshotId as string | undefined;
          const snap = snapId ? need(r.snapshots.get(snapId), "SnapshotId", snapId, "5054") : undefined;
          const size = (bsu.VolumeSize as number | undefined) ?? snap?.VolumeSize;
          if (!size) throw fault.badValue(`The mapping ${dev} needs a VolumeSize (or a SnapshotId).`);
          if (snap && size < snap.VolumeSize)
            throw fault.badValue(
              `The mapping ${dev} is smaller (${size} GiB) than its snapshot (${snap.VolumeSize} GiB).`,
            );
          const type = (bsu.VolumeType as string | undefined) ?? "standard";
          if (!["standard", "gp2", "io1"].includes(type))
            throw fault.badValue(`The volume type '${type}' is not standard, gp2 or io1.`);
          const volId = newId("vol");
          w.disks.createVolume(volId, size, snap?.SnapshotId);
          const del = bsu.DeleteOnVmDeletion === undefined ? true : bsu.DeleteOnVmDeletion === true;
          const vol: Volume = {
            VolumeId: volId,
            Size: size,
            SubregionName: subregion,
            State: "in-use",
            VolumeType: type,
            ...(type === "io1" && bsu.Iops ? { Iops: bsu.Iops as number } : {}),
            ...(snap ? { SnapshotId: snap.SnapshotId } : {}),
            CreationDate: now,
            LinkedVolumes: [
              { VmId: vmId, DeviceName: dev, State: "attached", DeleteOnVmDeletion: del, VolumeId: volId },
            ],
            Tags: [],
          };
          volumes.push(vol);
          bdm.push({
            DeviceName: dev,
            Bsu: { VolumeId: volId, State: "attached", LinkDate: now, DeleteOnVmDeletion: del },
          });
        }
      } catch (e) {
        for (const v of volumes) w.disks.removeVolume(v.VolumeId);
        throw e;
      }
      for (const v of volumes) r.volumes.set(v.VolumeId, v);
      const privateIp = r.allocatePrivate(netId);
      const vm: Vm = {
        VmId: vmId,
        State: "pending",
        StateReason: "",
        ImageId: imageId,
        VmType: str(body.VmType) ?? "tinav5.c1r1p2",
        ...(keypairName ? { KeypairName: keypairName } : {}),
        SecurityGroups: groups.map((g) => ({
          SecurityGroupId: g.SecurityGroupId,
          SecurityGroupName: g.SecurityGroupName,
        })),
        ...(subnet ? { SubnetId: subnet.SubnetId, NetId: subnet.NetId } : {}),
        PrivateIp: privateIp,
        PrivateDnsName: `ip-${privateIp.replace(/\./g, "-")}.${r.name}.compute.internal`,
        // Outside a Net a VM gets a public address at once; in a Net only through LinkPublicIp.
        ...(netId ? {} : { PublicIp: r.allocateAddress() }),
        Placement: { SubregionName: subregion, Tenancy: "default" },
        BlockDeviceMappings: bdm,
        RootDeviceName: image.RootDeviceName,
        RootDeviceType: "ebs",
        VmInitiatedShutdownBehavior: str(body.VmInitiatedShutdownBehavior) ?? "stop",
        BsuOptimized: body.BsuOptimized === true,
        BootMode: (str(body.BootMode) ?? image.BootModes[0] ?? "legacy") as string,
        Architecture: image.Architecture,
        ...(token ? { ClientToken: token } : {}),
        CreationDate: now,
        ReservationId: newId("r"),
        Tags: [],
        ...(userData !== undefined ? { _userData: userData } : {}),
        _accountId: call.accountId,
      };
      if (!["stop", "terminate", "restart"].includes(vm.VmInitiatedShutdownBehavior))
        throw fault.badValue("VmInitiatedShutdownBehavior must be stop, restart or terminate.");
      if (vm.PublicIp)
        vm.PublicDnsName = `ows-${vm.PublicIp.replace(/\./g, "-")}.${r.name}.compute.outscale.com`;
      r.vms.set(vmId, vm);
      if (body.BootOnCreation !== false) void boot(vm);
      else vm.State = "stopped";
      return { Vms: [view(vm)] };
    },

    async StopVms(body) {
      const ids = strs(body.VmIds);
      const out = [];
      for (const id of ids) {
        const vm = need(r.vms.get(id), "VmId", id, "5063");
        const previous = vm.State;
        if (vm.State === "running") {
          vm.State = "stopping";
          if (body.ForceStop === true) await w.machines.kill(id);
          else await w.machines.powerdown(id);
          await w.syncReach(id);
        } else if (vm.State !== "stopped" && vm.State !== "stopping")
          throw fault.wrongState(`The VM '${id}' is ${vm.State} and cannot be stopped.`);
        out.push({ VmId: id, PreviousState: previous, CurrentState: vm.State });
      }
      return { Vms: out };
    },

    async StartVms(body) {
      const out = [];
      for (const id of strs(body.VmIds)) {
        const vm = need(r.vms.get(id), "VmId", id, "5063");
        const previous = vm.State;
        if (vm.State !== "stopped") throw fault.wrongState(`The VM '${id}' is ${vm.State}, not stopped.`);
        vm.State = "pending";
        void boot(vm);
        out.push({ VmId: id, PreviousState: previous, CurrentState: vm.State });
      }
      return { Vms: out };
    },

    async DeleteVms(body) {
      const out = [];
      for (const id of strs(body.VmIds)) {
        const vm = need(r.vms.get(id), "VmId", id, "5063");
        const previous = vm.State;
        if (vm.State !== "terminated" && vm.State !== "shutting-down") terminate(vm);
        await w.syncReach(id);
        out.push({ VmId: id, PreviousState: previous, CurrentState: vm.State });
      }
      return { Vms: out };
    },

    ReadAdminPassword(body) {
      const id = body.VmId as string;
      need(r.vms.get(id), "VmId", id, "5063");
      // Linux guests have no admin password; the API answers an empty one.
      return { VmId: id, AdminPassword: "" };
    },
  };
}
