/** Images, snapshots and volumes: real disk files, states that move, permissions, deregistration. */
import { fault } from "../api-error.js";
import { type Image, isoNow, newId, type Snapshot, type Volume } from "../state.js";
import { type Handlers, matches, need, str, strs, view, type World } from "./common.js";
import { DEVICE_NAME } from "./vms.js";

export function storageRoutes(w: World): Handlers {
  const r = w.region;
  const IMAGE_FILTERS: Record<string, (i: Image) => unknown> = {
    ImageIds: (i) => i.ImageId,
    ImageNames: (i) => i.ImageName,
    AccountIds: (i) => i.AccountId,
    AccountAliases: (i) => i.AccountAlias,
    Architectures: (i) => i.Architecture,
    States: (i) => i.State,
    RootDeviceTypes: (i) => i.RootDeviceType,
    RootDeviceNames: (i) => i.RootDeviceName,
    VirtualizationTypes: () => "hvm",
    ImageTypes: (i) => i.ImageType,
    Descriptions: (i) => i.Description,
    BlockDeviceMappingSnapshotIds: (i) => i.BlockDeviceMappings.map((m) => m.Bsu.SnapshotId),
    PermissionsToLaunchGlobalPermission: (i) => i.PermissionsToLaunch.GlobalPermission,
    PermissionsToLaunchAccountIds: (i) => i.PermissionsToLaunch.AccountIds,
  };
  const SNAPSHOT_FILTERS: Record<string, (s: Snapshot) => unknown> = {
    SnapshotIds: (s) => s.SnapshotId,
    VolumeIds: (s) => s.VolumeId,
    States: (s) => s.State,
    AccountIds: (s) => s.AccountId,
    Descriptions: (s) => s.Description,
  };
  const VOLUME_FILTERS: Record<string, (v: Volume) => unknown> = {
    VolumeIds: (v) => v.VolumeId,
    VolumeStates: (v) => v.State,
    VolumeTypes: (v) => v.VolumeType,
    SubregionNames: (v) => v.SubregionName,
    SnapshotIds: (v) => v.SnapshotId,
    LinkVolumeVmIds: (v) => v.LinkedVolumes.map((l) => l.VmId),
    LinkVolumeDeviceNames: (v) => v.LinkedVolumes.map((l) => l.DeviceName),
  };
  const canSee = (i: Image, account: string) =>
    i.AccountId === account ||
    i.PermissionsToLaunch.GlobalPermission ||
    i.PermissionsToLaunch.AccountIds.includes(account);

  const newSnapshot = (
    volumeId: string | undefined,
    size: number,
    account: string,
    description: string,
    file: (s: Snapshot) => void,
  ) => {
    const s: Snapshot = {
      SnapshotId: newId("snap"),
      ...(volumeId ? { VolumeId: volumeId } : {}),
      VolumeSize: size,
      State: "pending",
      Progress: 0,
      AccountId: account,
      Description: description,
      CreationDate: isoNow(),
      PermissionsToCreateVolume: { GlobalPermission: false, AccountIds: [] },
      Tags: [],
    };
    r.snapshots.set(s.SnapshotId, s);
    try {
      file(s);
    } catch (e) {
      r.snapshots.delete(s.SnapshotId);
      throw e;
    }
    return s;
  };
  const completeSnapshot = (s: Snapshot, then?: (ok: boolean, why?: string) => void) =>
    w.transition("snapshot", w.durations.snapshot, (failure) => {
      if (!r.snapshots.has(s.SnapshotId)) return;
      s.State = failure ? "error" : "completed";
      s.Progress = failure ? s.Progress : 100;
      then?.(!failure, failure);
    });

  const permissions = (
    p: { GlobalPermission: boolean; AccountIds: string[] },
    change:
      | {
          Additions?: { AccountIds?: string[]; GlobalPermission?: boolean };
          Removals?: { AccountIds?: string[]; GlobalPermission?: boolean };
        }
      | undefined,
  ) => {
    if (!change) return;
    if (change.Additions?.GlobalPermission) p.GlobalPermission = true;
    if (change.Removals?.GlobalPermission) p.GlobalPermission = false;
    for (const a of change.Additions?.AccountIds ?? []) {
      if (!/^\d{12}$/.test(a)) throw fault.badValue(`The account ID '${a}' is not 12 digits.`);
      if (!p.AccountIds.includes(a)) p.AccountIds.push(a);
    }
    p.AccountIds = p.AccountIds.filter((a) => !(change.Removals?.AccountIds ?? []).includes(a));
  };

  return {
    ReadImages(body, call) {
      const filters = body.Filters as Record<string, unknown> | undefined;
      return {
        Images: [...r.images.values()]
          .filter((i) => canSee(i, call.accountId) && matches(i, filters, IMAGE_FILTERS as never))
          .map(view),
      };
    },

    CreateImage(body, call) {
      const name = str(body.ImageName);
      if (name !== undefined && !/^[A-Za-z0-9 ()./_\-[\]]{3,128}$/.test(name))
        throw fault.badValue(
          "ImageName must be 3–128 characters of letters, digits, spaces and ( ) . / - _ [ ].",
        );
      if (name && [...r.images.values()].some((i) => i.AccountId === call.accountId && i.ImageName === name))
        throw fault.conflict(`An image named '${name}' already exists.`, "9008");
      const image: Image = {
        ImageId: newId("ami"),
        ImageName: name ?? "",
        AccountId: call.accountId,
        State: "pending",
        CreationDate: isoNow(),
        Description: str(body.Description) ?? "",
        Architecture: str(body.Architecture) ?? "x86_64",
        BootModes: strs(body.BootModes).length ? strs(body.BootModes) : ["legacy"],
        ImageType: "machine",
        RootDeviceName: str(body.RootDeviceName) ?? "/dev/sda1",
        RootDeviceType: "bsu",
        BlockDeviceMappings: [],
        PermissionsToLaunch: { GlobalPermission: false, AccountIds: [] },
        ProductCodes: strs(body.ProductCodes).length ? strs(body.ProductCodes) : ["0001"],
        Tags: [],
      };
      const pending: Snapshot[] = [];
      const vmId = str(body.VmId);
      const sourceId = str(body.SourceImageId);
      if (vmId) {
        if (!name) throw fault.missingParameter("ImageName");
        const vm = need(r.vms.get(vmId), "VmId", vmId, "5063");
        if (vm.State !== "stopped" && !(vm.State === "running" && body.NoReboot === true))
          throw fault.wrongState(`The VM '${vmId}' is ${vm.State}; stop it first (or set NoReboot).`);
        image.Architecture = vm.Architecture;
        image.RootDeviceName = vm.RootDeviceName;
        image.BootModes = [vm.BootMode];
        for (const m of vm.BlockDeviceMappings) {
          const vol = need(r.volumes.get(m.Bsu.VolumeId), "VolumeId", m.Bsu.VolumeId);
          const s = newSnapshot(
            vol.VolumeId,
            vol.Size,
            call.accountId,
            `Created by CreateImage(${vmId}) for ${image.ImageId}`,
            (snap) => w.disks.snapshot(vol.VolumeId, snap.SnapshotId),
          );
          pending.push(s);
          image.BlockDeviceMappings.push({
            DeviceName: m.DeviceName,
            Bsu: {
              SnapshotId: s.SnapshotId,
              VolumeSize: vol.Size,
              VolumeType: vol.VolumeType,
              DeleteOnVmDeletion: m.Bsu.DeleteOnVmDeletion,
            },
          });
        }
      } else if (sourceId) {
        if (!name) throw fault.missingParameter("ImageName");
        const region = str(body.SourceRegionName);
        const peer = region && region !== r.name ? w.peers.get(region) : { region: r, disks: w.disks };
        if (!peer) throw fault.badValue(`The region '${region}' is not linked to this double (link() it).`);
        const src = need(peer.region.images.get(sourceId), "ImageId", sourceId, "5023");
        if (!canSee(src, call.accountId)) throw fault.notFound("ImageId", sourceId, "5023");
        if (src.State !== "available") throw fault.wrongState(`The image '${sourceId}' is ${src.State}.`);
        Object.assign(image, {
          Architecture: src.Architecture,
          RootDeviceName: src.RootDeviceName,
          BootModes: [...src.BootModes],
        });
        for (const m of src.BlockDeviceMappings) {
          const from = m.Bsu.SnapshotId ? peer.region.snapshots.get(m.Bsu.SnapshotId) : undefined;
          if (!from) continue;
          const s = newSnapshot(
            undefined,
            from.VolumeSize,
            call.accountId,
            `Copied from ${sourceId}`,
            (snap) => w.disks.importSnapshot(snap.SnapshotId, peer.disks.snapshotPath(from.SnapshotId)),
          );
          pending.push(s);
          image.BlockDeviceMappings.push({
            DeviceName: m.DeviceName,
            Bsu: { ...m.Bsu, SnapshotId: s.SnapshotId },
          });
        }
      } else {
        const maps = (body.BlockDeviceMappings as Image["BlockDeviceMappings"] | undefined) ?? [];
        if (!maps.length) throw fault.missingParameter("VmId");
        if (!name) throw fault.missingParameter("ImageName");
        for (const m of maps) {
          if (!DEVICE_NAME.test(m.DeviceName))
            throw fault.badValue(`The device name '${m.DeviceName}' is not valid.`);
          const snapId = m.Bsu?.SnapshotId;
          const snap = snapId ? need(r.snapshots.get(snapId), "SnapshotId", snapId, "5054") : undefined;
          if (snap && snap.State !== "completed")
            throw fault.wrongState(`The snapshot '${snapId}' is ${snap.State}.`);
          image.BlockDeviceMappings.push({
            DeviceName: m.DeviceName,
            Bsu: { ...m.Bsu, ...(snap && !m.Bsu?.VolumeSize ? { VolumeSize: snap.VolumeSize } : {}) },
          });
        }
        if (!image.BlockDeviceMappings.some((m) => m.DeviceName === image.RootDeviceName))
          throw fault.badValue(`No mapping for the root device ${image.RootDeviceName}.`);
      }
      r.images.set(image.ImageId, image);
      let left = pending.length;
      const finish = () =>
        w.transition("image", w.durations.image, (failure) => {
          if (!r.images.has(image.ImageId)) return;
          image.State = failure ? "failed" : "available";
          if (failure) image.StateComment = { StateCode: "Server.InternalError", StateMessage: failure };
        });
      if (!left) finish();
      for (const s of pending)
        completeSnapshot(s, (ok, why) => {
          if (!ok) {
            image.State = "failed";
            image.StateComment = {
              StateCode: "Server.InternalError",
              StateMessage: `snapshot ${s.SnapshotId}: ${why}`,
            };
            left = -1;
            return;
          }
          if (--left === 0) finish();
        });
      return { Image: view(image) };
    },

    DeleteImage(body, call) {
      const id = body.ImageId as string;
      const image = need(r.images.get(id), "ImageId", id, "5023");
      if (image.AccountId !== call.accountId) throw fault.notFound("ImageId", id, "5023");
      r.images.delete(id);
      return {};
    },

    UpdateImage(body, call) {
      const id = body.ImageId as string;
      const image = need(r.images.get(id), "ImageId", id, "5023");
      if (image.AccountId !== call.accountId) throw fault.notFound("ImageId", id, "5023");
      permissions(image.PermissionsToLaunch, body.PermissionsToLaunch as never);
      if (body.Description !== undefined) image.Description = body.Description as string;
      return { Image: view(image) };
    },

    ReadSnapshots(body, call) {
      const filters = body.Filters as Record<string, unknown> | undefined;
      return {
        Snapshots: [...r.snapshots.values()]
          .filter(
            (s) =>
              (s.AccountId === call.accountId ||
                s.PermissionsToCreateVolume.GlobalPermission ||
                s.PermissionsToCreateVolume.AccountIds.includes(call.accountId)) &&
              matches(s, filters, SNAPSHOT_FILTERS as never),
          )
          .map(view),
      };
    },

    CreateSnapshot(body, call) {
      const volumeId = str(body.VolumeId);
      if (!volumeId) throw fault.missingParameter("VolumeId");
      const vol = need(r.volumes.get(volumeId), "VolumeId", volumeId, "5064");
      const s = newSnapshot(volumeId, vol.Size, call.accountId, str(body.Description) ?? "", (snap) =>
        w.disks.snapshot(volumeId, snap.SnapshotId),
      );
      completeSnapshot(s);
      return { Snapshot: view(s) };
    },

    DeleteSnapshot(body, call) {
      const id = body.SnapshotId as string;
      const s = need(r.snapshots.get(id), "SnapshotId", id, "5054");
      if (s.AccountId !== call.accountId) throw fault.notFound("SnapshotId", id, "5054");
      const user = [...r.images.values()].find((i) =>
        i.BlockDeviceMappings.some((m) => m.Bsu.SnapshotId === id),
      );
      if (user) throw fault.conflict(`The snapshot '${id}' is used by the image '${user.ImageId}'.`, "9029");
      r.snapshots.delete(id);
      w.disks.removeSnapshot(id);
      return {};
    },

    UpdateSnapshot(body, call) {
      const id = body.SnapshotId as string;
      const s = need(r.snapshots.get(id), "SnapshotId", id, "5054");
      if (s.AccountId !== call.accountId) throw fault.notFound("SnapshotId", id, "5054");
      permissions(s.PermissionsToCreateVolume, body.PermissionsToCreateVolume as never);
      return { Snapshot: view(s) };
    },

    ReadVolumes(body) {
      const filters = body.Filters as Record<string, unknown> | undefined;
      return {
        Volumes: [...r.volumes.values()]
          .filter((v) => matches(v, filters, VOLUME_FILTERS as never))
          .map(view),
      };
    },

    CreateVolume(body) {
      const subregion = body.SubregionName as string;
      if (!r.subregions.includes(subregion)) throw fault.notFound("SubregionName", subregion, "5009");
      const snapId = str(body.SnapshotId);
      const snap = snapId ? need(r.snapshots.get(snapId), "SnapshotId", snapId, "5054") : undefined;
      const size = (body.Size as number | undefined) ?? snap?.VolumeSize;
      if (!size) throw fault.missingParameter("Size");
      const type = str(body.VolumeType) ?? "standard";
      const v: Volume = {
        VolumeId: newId("vol"),
        Size: size,
        SubregionName: subregion,
        State: "creating",
        VolumeType: type,
        ...(body.Iops ? { Iops: body.Iops as number } : {}),
        ...(snap ? { SnapshotId: snap.SnapshotId } : {}),
        CreationDate: isoNow(),
        LinkedVolumes: [],
        Tags: [],
      };
      w.disks.createVolume(v.VolumeId, size, snap?.SnapshotId);
      r.volumes.set(v.VolumeId, v);
      w.transition("volume", w.durations.volume, (failure) => {
        if (r.volumes.has(v.VolumeId)) v.State = failure ? "error" : "available";
      });
      return { Volume: view(v) };
    },

    DeleteVolume(body) {
      const id = body.VolumeId as string;
      const v = need(r.volumes.get(id), "VolumeId", id, "5064");
      if (v.State === "in-use")
        throw fault.wrongState(`The volume '${id}' is linked to ${v.LinkedVolumes[0]?.VmId}.`);
      r.volumes.delete(id);
      w.disks.removeVolume(id);
      return {};
    },

    LinkVolume(body) {
      const dev = body.DeviceName as string;
      if (!DEVICE_NAME.test(dev) || dev === "/dev/sda1")
        throw fault.badValue(
          `The device name '${dev}' is not valid: /dev/sdX, /dev/sdXX, /dev/xvdX or /dev/xvdXX (X in b–z).`,
        );
      const v = need(r.volumes.get(body.VolumeId as string), "VolumeId", body.VolumeId as string, "5064");
      const vm = need(r.vms.get(body.VmId as string), "VmId", body.VmId as string, "5063");
      if (v.State !== "available") throw fault.wrongState(`The volume '${v.VolumeId}' is ${v.State}.`);
      if (vm.BlockDeviceMappings.some((m) => m.DeviceName === dev))
        throw fault.conflict(`${dev} is taken on ${vm.VmId}.`);
      v.State = "in-use";
      v.LinkedVolumes = [
        {
          VmId: vm.VmId,
          DeviceName: dev,
          State: "attached",
          DeleteOnVmDeletion: false,
          VolumeId: v.VolumeId,
        },
      ];
      vm.BlockDeviceMappings.push({
        DeviceName: dev,
        Bsu: { VolumeId: v.VolumeId, State: "attached", LinkDate: isoNow(), DeleteOnVmDeletion: false },
      });
      return {};
    },

    UnlinkVolume(body) {
      const v = need(r.volumes.get(body.VolumeId as string), "VolumeId", body.VolumeId as string, "5064");
      const link = v.LinkedVolumes[0];
      if (!link) throw fault.wrongState(`The volume '${v.VolumeId}' is not linked.`);
      const vm = r.vms.get(link.VmId);
      if (vm && vm.RootDeviceName === link.DeviceName && vm.State !== "stopped")
        throw fault.wrongState("The root volume of a VM that is not stopped cannot be unlinked.");
      if (vm) vm.BlockDeviceMappings = vm.BlockDeviceMappings.filter((m) => m.Bsu.VolumeId !== v.VolumeId);
      v.LinkedVolumes = [];
      v.State = "available";
      return {};
    },
  };
}
