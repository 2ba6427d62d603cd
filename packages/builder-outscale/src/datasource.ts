/**
 * The outscale-omi data source: one `ReadImages` with the filters and owners, using the data
 * source's own credentials (the plugin ignored them and used only env/file credentials), owners
 * without filters working (the plugin crashed on them), unknown filter keys refused (the
 * plugin ignored them). Values: id, name, creation_date, owner, owner_name, tags.
 */
import type { DataSourceRuntime } from "@kiln/core";
import { errors } from "./errors.js";
import { oapiFilters, ownerFilters, pickImage } from "./filters.js";
import { openClient } from "./open-client.js";
import type { OmiDataOptions } from "./schema.js";

interface Image {
  ImageId: string;
  ImageName?: string;
  CreationDate?: string;
  AccountId?: string;
  AccountAlias?: string;
  State?: string;
  Tags?: Array<{ Key: string; Value: string }>;
}

export const omiDataSource: DataSourceRuntime<OmiDataOptions> = {
  prepare(o) {
    if (!o.filters && !o.owners?.length)
      throw errors.config(
        "give filters or owners (or both)",
        "e.g. owners: [Outscale], filters: { image-name: debian-12-* }.",
      );
    oapiFilters("image", o.filters, "filters");
  },
  async execute(ctx) {
    const o = ctx.options;
    const client = openClient(o, ctx);
    try {
      const needSelf = (o.owners ?? []).includes("self");
      let accountId = "";
      if (needSelf) {
        const acc = await client.call<{ Accounts?: Array<{ AccountId: string }> }>(
          "ReadAccounts",
          {},
          ctx.signal,
        );
        accountId = acc.Accounts?.[0]?.AccountId ?? "";
      }
      const filters = {
        ...oapiFilters("image", o.filters, "filters"),
        ...ownerFilters(o.owners, accountId),
        States: ["available"],
      };
      ctx.ui.message(`ReadImages ${JSON.stringify(filters)}`);
      const r = await client.call<{ Images?: Image[] }>("ReadImages", { Filters: filters }, ctx.signal);
      const img = pickImage(r.Images ?? [], o.most_recent, "the filters");
      ctx.ui.say(`Found ${img.ImageId}${img.ImageName ? ` (${img.ImageName})` : ""}.`);
      return {
        id: img.ImageId,
        name: img.ImageName ?? "",
        creation_date: img.CreationDate ?? "",
        owner: img.AccountId ?? "",
        owner_name: img.AccountAlias ?? "",
        tags: Object.fromEntries((img.Tags ?? []).map((t) => [t.Key, t.Value])),
      };
    } finally {
      client.close();
    }
  },
};
