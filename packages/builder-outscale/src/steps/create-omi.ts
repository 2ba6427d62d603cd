/**
 * Make the OMI: `CreateImage {ImageName, VmId}` (snapshots of every volume of the VM), or, with
 * omi_block_device_mappings, from those mappings and root_device_name; wait until it is
 * available (image_timeout; failed ends the wait with OUTSCALE's reason); then its permissions
 * (omi_account_ids, global_permission; snapshot_account_ids on its snapshots) and tags. An OMI
 * the build does not finish is deleted with its snapshots in cleanup.
 */
import { parseDuration, type Step, throwIfAborted } from "@kiln/core";
import { isNotFound, type OapiClient } from "../client.js";
import { imageMapping, tagList } from "../params.js";
import type { BsuOptions } from "../schema.js";
import { API, DONE, OMI, RESULT, VM } from "../state.js";
import { waitFor } from "../wait.js";

export interface ImageView {
  ImageId: string;
  State: string;
  StateComment?: { StateMessage?: string; StateCode?: string };
  BlockDeviceMappings?: Array<{ DeviceName: string; Bsu?: { SnapshotId?: string } }>;
}

export const readImage = async (client: OapiClient, id: string, signal?: AbortSignal) =>
  (await client.call<{ Images?: ImageView[] }>("ReadImages", { Filters: { ImageIds: [id] } }, signal))
    .Images?.[0];

export const snapshotsOf = (img: ImageView | undefined) =>
  (img?.BlockDeviceMappings ?? []).map((m) => m.Bsu?.SnapshotId).filter((s): s is string => !!s);

/** Wait for an OMI to be available; its snapshot ids. */
export async function waitImage(
  client: OapiClient,
  id: string,
  o: BsuOptions,
  signal: AbortSignal,
  say: (l: string) => void,
) {
  const img = (await waitFor({
    what: `OMI ${id} to be available`,
    timeoutMs: parseDuration(o.image_timeout),
    timeoutOption: "image_timeout",
    signal,
    read: () => readImage(client, id, signal),
    state: (i) => i.State,
    done: ["available"],
    failed: ["failed"],
    reason: (i) => i.StateComment?.StateMessage,
    onState: (s) => say(`OMI ${id}: ${s}`),
    maxMs: 10_000,
  })) as ImageView;
  return snapshotsOf(img);
}

/** Permissions and tags of a finished OMI and its snapshots. */
export async function finishImage(
  client: OapiClient,
  id: string,
  snapshots: string[],
  o: BsuOptions,
  render: <T>(v: T) => T,
  signal: AbortSignal,
) {
  if (o.omi_account_ids?.length || o.global_permission)
    await client.call(
      "UpdateImage",
      {
        ImageId: id,
        PermissionsToLaunch: {
          Additions: {
            ...(o.omi_account_ids?.length ? { AccountIds: o.omi_account_ids } : {}),
            ...(o.global_permission ? { GlobalPermission: true } : {}),
          },
        },
      },
      signal,
    );
  if (o.snapshot_account_ids?.length)
    for (const s of snapshots)
      await client.call(
        "UpdateSnapshot",
        { SnapshotId: s, PermissionsToCreateVolume: { Additions: { AccountIds: o.snapshot_account_ids } } },
        signal,
      );
  if (o.tags && Object.keys(o.tags).length)
    await client.call(
      "CreateTags",
      { ResourceIds: [id, ...snapshots], Tags: tagList(render(o.tags)) },
      signal,
    );
  if (o.snapshot_tags && Object.keys(o.snapshot_tags).length && snapshots.length)
    await client.call(
      "CreateTags",
      { ResourceIds: snapshots, Tags: tagList(render(o.snapshot_tags)) },
      signal,
    );
}

/** Delete an OMI and its snapshots (ignoring what is gone already). */
export async function deleteImage(client: OapiClient, id: string, snapshots: string[]): Promise<void> {
  const img = await readImage(client, id).catch(() => undefined);
  const snaps = new Set([...snapshots, ...snapshotsOf(img)]);
  await client.call("DeleteImage", { ImageId: id }).catch((e) => {
    if (!isNotFound(e)) throw e;
  });
  for (const s of snaps)
    await client.call("DeleteSnapshot", { SnapshotId: s }).catch((e) => {
      if (!isNotFound(e)) throw e;
    });
}

export function createOmiStep(o: BsuOptions): Step {
  // The CreateImage in flight: an interrupted run does not wait for it, its cleanup does.
  let creating: Promise<unknown> | undefined;
  return {
    name: "create omi",
    async run(ctx) {
      if (o.skip_create_omi) {
        ctx.ui.say("skip_create_omi: no OMI is made.");
        return;
      }
      const { client, region } = ctx.state.require(API);
      const vm = ctx.state.require(VM);
      const body: Record<string, unknown> = {
        ImageName: o.omi_name,
        ...(o.omi_description ? { Description: o.omi_description } : {}),
        ...(o.omi_boot_modes?.length ? { BootModes: o.omi_boot_modes } : {}),
        ...(o.product_codes?.length ? { ProductCodes: o.product_codes } : {}),
        ...(o.omi_block_device_mappings?.length
          ? {
              BlockDeviceMappings: o.omi_block_device_mappings.map(imageMapping),
              RootDeviceName: o.root_device_name ?? "/dev/sda1",
            }
          : { VmId: vm.id }),
      };
      // Not abortable: an interrupted request may still have made the OMI, and then cleanup must know its id.
      const call = client.call<{ Image: ImageView }>("CreateImage", body).then((r) => {
        ctx.state.put(OMI, { id: r.Image.ImageId, snapshotIds: [] });
        return r;
      });
      creating = call;
      const id = (await call).Image.ImageId;
      throwIfAborted(ctx.signal, "create omi");
      ctx.ui.say(`Creating the OMI ${id} (${o.omi_name})...`);
      const snapshots = await waitImage(client, id, o, ctx.signal, (l) => ctx.ui.message(l));
      ctx.state.put(OMI, { id, snapshotIds: snapshots });
      await finishImage(client, id, snapshots, o, ctx.render, ctx.signal);
      ctx.state.put(RESULT, { omis: { [region]: id }, snapshots: { [region]: snapshots } });
      ctx.ui.say(`The OMI ${id} is available in ${region}.`);
    },
    async cleanup(ctx) {
      await creating?.catch(() => {});
      const omi = ctx.state.get(OMI);
      const api = ctx.state.get(API);
      // The build owns the OMI only once every step ran (DONE): otherwise nothing half-built stays.
      if (!omi || !api || ctx.state.get(DONE)) return;
      await deleteImage(api.client, omi.id, omi.snapshotIds);
      ctx.state.delete(RESULT);
      ctx.ui.say(`Deleted the unfinished OMI ${omi.id} and its snapshots.`);
    },
  };
}
