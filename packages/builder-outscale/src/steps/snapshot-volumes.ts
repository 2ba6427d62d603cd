/**
 * outscale-bsusurrogate: once the surrogate VM is stopped, snapshot each of its launch volumes
 * (`CreateSnapshot`, one at a time as the plugin does) and wait until each is completed
 * (image_timeout). Cleanup deletes the snapshots unless the build finished: an OMI that was
 * registered owns them then (its own cleanup deletes it first when the build did not finish).
 */
import { parseDuration, type Step, throwIfAborted } from "@kiln/core";
import { isNotFound } from "../client.js";
import type { BlockDeviceOptions, RunOptions } from "../schema.js";
import { API, DONE, SNAPSHOTS, VM } from "../state.js";
import { waitFor } from "../wait.js";

interface SnapshotView {
  SnapshotId: string;
  State: string;
  Progress?: number;
}

export function snapshotVolumesStep(o: RunOptions, mappings: BlockDeviceOptions[]): Step {
  // The CreateSnapshot in flight: an interrupted run does not wait for it, its cleanup does.
  let creating: Promise<unknown> | undefined;
  return {
    name: "snapshot volumes",
    async run(ctx) {
      const { client } = ctx.state.require(API);
      const vm = ctx.state.require(VM);
      const snaps: Record<string, string> = {};
      ctx.state.put(SNAPSHOTS, snaps);
      for (const m of mappings) {
        if (m.no_device) continue;
        const vol = vm.devices[m.device_name];
        if (!vol) throw new Error(`the VM ${vm.id} has no volume at ${m.device_name}`);
        const call = client
          .call<{ Snapshot: SnapshotView }>("CreateSnapshot", {
            VolumeId: vol,
            Description: `kiln: ${m.device_name} of ${vm.id}, ${new Date().toISOString()}`,
          })
          .then((r) => {
            snaps[m.device_name] = r.Snapshot.SnapshotId;
            return r;
          });
        creating = call;
        const id = (await call).Snapshot.SnapshotId;
        throwIfAborted(ctx.signal, "snapshot volumes");
        ctx.ui.say(`Snapshotting ${vol} (${m.device_name}) as ${id}...`);
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
