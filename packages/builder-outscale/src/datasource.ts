/**
 * The outscale-omi data source: one `ReadImages` with the filters and owners, using the data
 * source's own credentials (the plugin ignored them and used only env/file credentials), owners
 * without filters working (the plugin crashed on them), unknown filter keys refused (the
 * plugin ignored them). Values: id, name, creation_date, owner, owner_name, tags.
 */
import type { DataSourceContext, DataSourceRuntime } from "@kiln/core";
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

/** `[outscale] …` → `[<type>] …` on the errors of the shared modules. */
function renamed<T>(type: string, f: () => Promise<T>): Promise<T> {
  return f().catch((e) => {
    if (e instanceof Error && e.message.startsWith("[outscale] "))
      e.message = `[${type}] ${e.message.slice(11)}`;
    throw e;
  });
}

export const omiDataSource = (type: "outscale-omi" | "osc-omi"): DataSourceRuntime<OmiDataOptions> => ({
  prepare: (o) => renamed(type, async () => check(o)),
  execute: (ctx) => renamed(type, () => execute(ctx)),
});

function check(o: OmiDataOptions): void {
  if (!o.filters && !o.owners?.length)
    throw errors.config(
      "give filters or owners (or both)",
      "e.g. owners: [Outscale], filters: { image-name: debian-12-* }.",
    );
  oapiFilters("image", o.filters, "filters");
}

async function execute(ctx: DataSourceContext<OmiDataOptions>): Promise<Record<string, unknown>> {
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
}
