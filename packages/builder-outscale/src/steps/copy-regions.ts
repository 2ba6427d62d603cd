/**
 * omi_regions: really copy the OMI to each region (the plugin accepted the option and copied
 * nothing): `CreateImage {ImageName, SourceImageId, SourceRegionName}` against that region's
 * endpoint, wait until available, then the same permissions and tags. Copies the build does not
 * finish are deleted in cleanup.
 */
import type { Step } from "@kiln/core";
import type { OapiClient } from "../client.js";
import { regionEndpoint } from "../credentials.js";
import { errors } from "../errors.js";
import { openClient } from "../open-client.js";
import type { BsuOptions } from "../schema.js";
import { API, DONE, RESULT } from "../state.js";
import { deleteImage, finishImage, waitImage } from "./create-omi.js";
import { deregisterByName } from "./deregister.js";

export function copyRegionsStep(o: BsuOptions): Step {
  const copies: Array<{ client: OapiClient; id: string; region: string }> = [];
  const clients: OapiClient[] = [];
  return {
    name: "copy omi",
    async run(ctx) {
      const regions = [...new Set(o.omi_regions ?? [])];
      const result = ctx.state.get(RESULT);
      if (!regions.length || !result) return;
      const { region: home, accountId } = ctx.state.require(API);
      const source = result.omis[home] as string;
      for (const region of regions) {
        if (region === home) continue;
        const endpoint =
          o.omi_region_endpoints?.[region] ?? (o.custom_endpoint_oapi ? undefined : regionEndpoint(region));
        if (!endpoint)
          throw errors.config(
            `omi_regions: no endpoint for ${region}`,
            "With custom_endpoint_oapi set, give each copy region's endpoint in omi_region_endpoints: { <region>: <url> }.",
          );
        const client = openClient(o, ctx, { region, endpoint });
        clients.push(client);
        if (o.force_deregister || ctx.force)
          await deregisterByName(
            client,
            accountId,
            o.omi_name,
            o.force_delete_snapshot === true,
            (l) => ctx.ui.say(`${region}: ${l}`),
            ctx.signal,
          );
        const r = await client.call<{ Image: { ImageId: string } }>(
          "CreateImage",
          {
            ImageName: o.omi_name,
            SourceImageId: source,
            SourceRegionName: home,
            ...(o.omi_description ? { Description: o.omi_description } : {}),
          },
          ctx.signal,
        );
        const id = r.Image.ImageId;
        copies.push({ client, id, region });
        ctx.ui.say(`Copying ${source} to ${region} as ${id}...`);
        const snapshots = await waitImage(client, id, o, ctx.signal, (l) =>
          ctx.ui.message(`${region}: ${l}`),
        );
        await finishImage(client, id, snapshots, o, ctx.render, ctx.signal);
        result.omis[region] = id;
        result.snapshots[region] = snapshots;
      }
    },
    async cleanup(ctx) {
      try {
        if (!ctx.state.get(DONE))
          for (const c of copies.splice(0)) {
            await deleteImage(c.client, c.id, []);
            ctx.ui.say(`Deleted the unfinished copy ${c.id} in ${c.region}.`);
          }
      } finally {
        for (const c of clients.splice(0)) c.close();
      }
    },
  };
}
