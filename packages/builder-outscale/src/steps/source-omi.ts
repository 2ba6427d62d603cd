/** The OMI to start from: source_omi, or the newest/only match of source_omi_filter; it must be BSU-backed. */
import type { Step } from "@kiln/core";
import { errors } from "../errors.js";
import { oapiFilters, ownerFilters, pickImage } from "../filters.js";
import type { BsuOptions } from "../schema.js";
import { API, SOURCE_IMAGE, type SourceImage } from "../state.js";

export function sourceOmiStep(o: BsuOptions): Step {
  return {
    name: "source omi",
    async run(ctx) {
      const { client, accountId } = ctx.state.require(API);
      const f = o.source_omi_filter;
      const filters = f
        ? {
            ...oapiFilters("image", f.filters, "source_omi_filter.filters"),
            ...ownerFilters(f.owners, accountId),
          }
        : { ImageIds: [o.source_omi as string] };
      const r = await client.call<{
        Images?: Array<SourceImage & { CreationDate?: string; State?: string }>;
      }>("ReadImages", { Filters: filters }, ctx.signal);
      const images = (r.Images ?? []).filter((i) => i.State === undefined || i.State === "available");
      const what = f ? `source_omi_filter ${JSON.stringify(filters)}` : `source_omi ${o.source_omi}`;
      const img = pickImage(images, f?.most_recent === true, what);
      if (img.RootDeviceType && img.RootDeviceType !== "bsu" && img.RootDeviceType !== "ebs")
        throw errors.config(
          `the source OMI ${img.ImageId} has root device type ${img.RootDeviceType}; outscale-bsu needs a BSU-backed OMI`,
        );
      ctx.state.put(SOURCE_IMAGE, img);
      ctx.ui.say(`Source OMI: ${img.ImageId}${img.ImageName ? ` (${img.ImageName})` : ""}.`);
    },
  };
}
