/**
 * Snapshot volumes (`CreateSnapshot`, one at a time as the plugin does): outscale-bsusurrogate's
 * launch volumes once the surrogate is stopped, outscale-chroot's volume once it is unlinked;
 * wait until each is completed
 * (image_timeout). Cleanup deletes the snapshots unless the build finished: an OMI that was
 * registered owns them then (its own cleanup deletes it first when the build did not finish).
 */
import { parseDuration, type RunContext, type Step, throwIfAborted } from "@kiln/core";
import { isNotFound } from "../client.js";
import type { BlockDeviceOptions } from "../schema.js";
import { API, CHROOT_VOLUME, DONE, SNAPSHOTS, VM } from "../state.js";
import { waitFor } from "../wait.js";

interface SnapshotView {
  SnapshotId: string;
  State: string;
  Progress?: number;
}

/** Device name → volume id of what to snapshot. */
type Volumes = (ctx: RunContext) => Array<{ device: string; volumeId: string; owner: string }>;

/** The VM's volumes at these launch mappings (bsusurrogate). */
export const launchVolumes =
  (mappings: BlockDeviceOptions[]): Volumes =>
  (ctx) => {
    const vm = ctx.state.require(VM);
    return mappings
      .filter((m) => !m.no_device)
      .map((m) => {
        const volumeId = vm.devices[m.device_name];
        if (!volumeId) throw new Error(`the VM ${vm.id} has no volume at ${m.device_name}`);
        return { device: m.device_name, volumeId, owner: vm.id };
      });
  };

/** outscale-chroot's volume, as the OMI's root device. */
export const chrootVolume =
  (rootDevice: string): Volumes =>
  (ctx) => {
    const v = ctx.state.require(CHROOT_VOLUME);
    return [{ device: rootDevice, volumeId: v.id, owner: "the chroot" }];
  };

export function snapshotVolumesStep(o: { image_timeout: string }, volumes: Volumes): Step {
  // The CreateSnapshot in flight: an interrupted run does not wait for it, its cleanup does.
  let creating: Promise<unknown> | undefined;
  return {
    name: "snapshot volumes",
    async run(ctx) {
      const { client } = ctx.state.require(API);
      const snaps: Record<string, string> = {};
      ctx.state.put(SNAPSHOTS, snaps);
      for (const { device, volumeId: vol, owner } of volumes(ctx)) {
        const call = client
          .call<{ Snapshot: SnapshotView }>("CreateSnapshot", {
            VolumeId: vol,
            Description: `kiln: ${device} of ${owner}, ${new Date().toISOString()}`,
          })
          .then((r) => {
            snaps[device] = r.Snapshot.SnapshotId;
            return r;
          });
        creating = call;
        const id = (await call).Snapshot.SnapshotId;
        throwIfAborted(ctx.signal, "snapshot volumes");
        ctx.ui.say(`Snapshotting ${vol} (${device}) as ${id}...`);
        await waitFor({
          what: `snapshot ${id} to complete`,
          timeoutMs: parseDuration(o.image_timeout),
          timeoutOption: "image_timeout",
          signal: ctx.signal,
          read: async () =>
            (
              await client.call<{ Snapshots?: SnapshotView[] }>(
                "ReadSnapshots",
                { Filters: { SnapshotIds: [id] } },
                ctx.signal,
              )
            ).Snapshots?.[0],
          state: (s) => s.State,
          done: ["completed"],
          failed: ["error"],
          maxMs: 10_000,
        });
      }
    },
    async cleanup(ctx) {
      await creating?.catch(() => {});
      const snaps = ctx.state.get(SNAPSHOTS);
      const api = ctx.state.get(API);
      if (!snaps || !api || ctx.state.get(DONE)) return;
      for (const id of Object.values(snaps))
        await api.client.call("DeleteSnapshot", { SnapshotId: id }).then(
          () => ctx.ui.say(`Deleted the snapshot ${id}.`),
          (e) => {
            if (!isNotFound(e)) throw e;
          },
        );
      ctx.state.delete(SNAPSHOTS);
    },
  };
}
