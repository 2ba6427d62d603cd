/**
 * outscale-chroot's volume: created in this VM's subregion from the source OMI's root snapshot
 * (or empty, from_scratch), then linked to this VM at a free device name and waited for until its
 * node exists; unlinked once the chroot is torn down. Cleanup unlinks (after the chroot steps'
 * cleanups have unmounted everything) and deletes the volume: the OMI has its snapshot.
 */
import { existsSync } from "node:fs";
import { abortableSleep, parseDuration, type RunContext, type Step, throwIfAborted } from "@kiln/core";
import { CHROOT_DEVICE } from "@kiln/sdk";
import { isNotFound, type OapiClient } from "../client.js";
import { errors } from "../errors.js";
import { tagList } from "../params.js";
import type { ChrootBuilderOptions } from "../schema.js";
import { API, CHROOT_VOLUME, HOST_VM, SOURCE_IMAGE } from "../state.js";
import { waitFor } from "../wait.js";

interface VolumeView {
  VolumeId: string;
  State: string;
  LinkedVolumes?: Array<{ VmId: string; DeviceName: string; State: string }>;
}
const readVolume = async (client: OapiClient, id: string, signal?: AbortSignal) =>
  (await client.call<{ Volumes?: VolumeView[] }>("ReadVolumes", { Filters: { VolumeIds: [id] } }, signal))
    .Volumes?.[0];

/** The nodes a device name of the API may get here: /dev/xvdf, /dev/sdf, or /dev/vdf on virtio. */
export const candidateNodes = (apiDevice: string): string[] => {
  const letter = apiDevice.replace(/^\/dev\/(xvd|sd)/, "");
  return [`/dev/xvd${letter}`, `/dev/sd${letter}`, `/dev/vd${letter}`];
};

/** The first API device name /dev/xvdf … /dev/xvdp none of whose nodes exists on this machine. */
export function freeDevice(exists: (p: string) => boolean = existsSync): string {
  for (const l of "fghijklmnop") {
    const dev = `/dev/xvd${l}`;
    if (!candidateNodes(dev).some(exists)) return dev;
  }
  throw errors.error("KILN_OUTSCALE_DEVICE", "no free device name /dev/xvdf … /dev/xvdp on this machine");
}

const waitVolume = (
  client: OapiClient,
  id: string,
  o: Pick<ChrootBuilderOptions, "volume_ready_timeout">,
  what: string,
  done: (v: VolumeView) => boolean,
  signal: AbortSignal,
) =>
  waitFor({
    what: `volume ${id} to be ${what}`,
    timeoutMs: parseDuration(o.volume_ready_timeout),
    timeoutOption: "volume_ready_timeout",
    signal,
    read: () => readVolume(client, id, signal),
    state: (v) => (done(v) ? "done" : v.State),
    done: ["done"],
    failed: ["error"],
  });

export function createVolumeStep(o: ChrootBuilderOptions): Step {
  let creating: Promise<unknown> | undefined;
  return {
    name: "create volume",
    async run(ctx) {
      const { client } = ctx.state.require(API);
      const host = ctx.state.require(HOST_VM);
      const image = o.from_scratch ? undefined : ctx.state.require(SOURCE_IMAGE);
      const root = image?.BlockDeviceMappings?.find((m) => m.DeviceName === image.RootDeviceName);
      if (image && !root?.Bsu?.SnapshotId)
        throw errors.config(`the source OMI ${image.ImageId} has no root snapshot to make the volume from`);
      const size = o.root_volume_size ?? root?.Bsu?.VolumeSize;
      if (!size) throw errors.config("from_scratch needs root_volume_size");
      if (root?.Bsu?.VolumeSize && size < root.Bsu.VolumeSize)
        throw errors.config(
          `root_volume_size ${size} GiB is smaller than the source OMI's root (${root.Bsu.VolumeSize} GiB)`,
        );
      const call = client
        .call<{ Volume: VolumeView }>("CreateVolume", {
          SubregionName: host.subregion,
          Size: size,
          ...(o.root_volume_type ? { VolumeType: o.root_volume_type } : {}),
          ...(root?.Bsu?.SnapshotId ? { SnapshotId: root.Bsu.SnapshotId } : {}),
        })
        .then((r) => {
          ctx.state.put(CHROOT_VOLUME, { id: r.Volume.VolumeId });
          return r;
        });
      creating = call;
      const id = (await call).Volume.VolumeId;
      throwIfAborted(ctx.signal, "create volume");
      ctx.ui.say(
        `Creating the volume ${id} (${size} GiB${root ? ` from ${root.Bsu?.SnapshotId}` : ", empty"})...`,
      );
      await waitVolume(client, id, o, "available", (v) => v.State === "available", ctx.signal);
      if (o.root_volume_tags && Object.keys(o.root_volume_tags).length)
        await client.call(
          "CreateTags",
          { ResourceIds: [id], Tags: tagList(ctx.render(o.root_volume_tags)) },
          ctx.signal,
        );
    },
    async cleanup(ctx) {
      await creating?.catch(() => {});
      const vol = ctx.state.get(CHROOT_VOLUME);
      const api = ctx.state.get(API);
      if (!vol || !api) return;
      const never = new AbortController().signal;
      const v = await readVolume(api.client, vol.id).catch(() => undefined);
      if (v && v.State === "creating")
        await waitVolume(api.client, vol.id, o, "available", (x) => x.State !== "creating", never);
      await api.client.call("DeleteVolume", { VolumeId: vol.id }).then(
        () => ctx.ui.say(`Deleted the volume ${vol.id}.`),
        (e) => {
          if (!isNotFound(e)) throw e;
        },
      );
      ctx.state.delete(CHROOT_VOLUME);
    },
  };
}

/** UnlinkVolume and wait until the volume is available again (no-op when it is not linked). */
async function unlink(ctx: RunContext, o: ChrootBuilderOptions, signal: AbortSignal): Promise<void> {
  const vol = ctx.state.get(CHROOT_VOLUME);
  const api = ctx.state.get(API);
  if (!vol?.linked || !api) return;
  await api.client.call("UnlinkVolume", { VolumeId: vol.id }).catch((e) => {
    if (!isNotFound(e)) throw e;
  });
  await waitVolume(api.client, vol.id, o, "unlinked", (v) => !v.LinkedVolumes?.length, signal);
  ctx.state.put(CHROOT_VOLUME, { id: vol.id });
  ctx.state.delete(CHROOT_DEVICE);
  ctx.ui.say(`Unlinked the volume ${vol.id}.`);
}

export function linkVolumeStep(o: ChrootBuilderOptions): Step {
  return {
    name: "link volume",
    async run(ctx) {
      const { client } = ctx.state.require(API);
      const host = ctx.state.require(HOST_VM);
      const vol = ctx.state.require(CHROOT_VOLUME);
      const device = o.device_path ?? freeDevice();
      // Marked linked before the call: an interrupted request may have linked it.
      ctx.state.put(CHROOT_VOLUME, { id: vol.id, device, linked: true });
      await client.call("LinkVolume", { VolumeId: vol.id, VmId: host.id, DeviceName: device }, ctx.signal);
      await waitVolume(
        client,
        vol.id,
        o,
        `linked to ${host.id}`,
        (v) => v.LinkedVolumes?.some((l) => l.VmId === host.id && l.State === "attached") === true,
        ctx.signal,
      );
      // The node the kernel (or udev) makes: /dev/xvdf, or its /dev/sdf or /dev/vdf name.
      const nodes = candidateNodes(device);
      const deadline = Date.now() + parseDuration(o.device_timeout);
      let node: string | undefined;
      while (!node) {
        node = nodes.find((n) => existsSync(n));
        if (node) break;
        if (Date.now() > deadline)
          throw errors.error(
            "KILN_OUTSCALE_DEVICE",
            `the volume ${vol.id} is linked as ${device}, but none of ${nodes.join(", ")} appeared within ${o.device_timeout}`,
            "Raise device_timeout, or set device_path / nvme_device_path for a machine that names devices otherwise.",
          );
        await abortableSleep(200, ctx.signal);
      }
      ctx.state.put(CHROOT_DEVICE, { device: node });
      ctx.ui.say(`Linked the volume ${vol.id} as ${device} (${node}).`);
    },
    async cleanup(ctx) {
      await unlink(ctx, o, new AbortController().signal);
    },
  };
}

/** After the chroot is torn down: unlink now, so the snapshot is of a quiet volume. */
export function unlinkVolumeStep(o: ChrootBuilderOptions): Step {
  return {
    name: "unlink volume",
    async run(ctx) {
      await unlink(ctx, o, ctx.signal);
    },
  };
}
