/** ReadAccounts and tags (CreateTags, DeleteTags, ReadTags) on every taggable resource. */
import { fault } from "../api-error.js";
import { type Handlers, matches, need, strs, type World } from "./common.js";

export function accountTagRoutes(w: World): Handlers {
  const r = w.region;
  const tagsOf = (body: Record<string, unknown>) =>
    (body.Tags as Array<{ Key: string; Value?: string }> | undefined) ?? [];
  return {
    ReadAccounts(_body, call) {
      const a = need(r.accounts.get(call.accountId), "AccountId", call.accountId);
      return { Accounts: [{ AccountId: a.AccountId, Email: a.Email }] };
    },
    CreateTags(body) {
      const ids = strs(body.ResourceIds);
      const targets = ids.map((id) => need(r.resource(id), "ResourceId", id, "5000"));
      for (const t of tagsOf(body)) {
        if (!t.Key || t.Key.length > 127) throw fault.badValue("A tag key must be 1–127 characters.");
        if ((t.Value ?? "").length > 255) throw fault.badValue("A tag value must be at most 255 characters.");
        if (t.Key.startsWith("osc:")) throw fault.badValue("Tag keys starting with osc: are reserved.");
      }
      for (const res of targets)
        for (const t of tagsOf(body)) {
          const old = res.Tags.find((x) => x.Key === t.Key);
          if (old) old.Value = t.Value ?? "";
          else res.Tags.push({ Key: t.Key, Value: t.Value ?? "" });
        }
      return {};
    },
    DeleteTags(body) {
      for (const id of strs(body.ResourceIds)) {
        const res = need(r.resource(id), "ResourceId", id, "5000");
        const drop = tagsOf(body);
        res.Tags = res.Tags.filter(
          (t) => !drop.some((d) => d.Key === t.Key && (d.Value === undefined || d.Value === t.Value)),
        );
      }
      return {};
    },
    ReadTags(body) {
      const f = body.Filters as Record<string, unknown> | undefined;
      const all: Array<{ ResourceId: string; ResourceType: string; Key: string; Value: string }> = [];
      const each = (id: string, tags: Array<{ Key: string; Value: string }>) => {
        for (const t of tags)
          all.push({ ResourceId: id, ResourceType: r.resourceType(id), Key: t.Key, Value: t.Value });
      };
      for (const m of [
        r.vms,
        r.images,
        r.snapshots,
        r.volumes,
        r.securityGroups,
        r.publicIps,
        r.nets,
        r.subnets,
      ])
        for (const [id, o] of m as Map<string, { Tags: Array<{ Key: string; Value: string }> }>)
          each(id, o.Tags);
      return {
        Tags: all.filter((t) =>
          matches(t, f, {
            Keys: (t) => t.Key,
            Values: (t) => t.Value,
            ResourceIds: (t) => t.ResourceId,
            ResourceTypes: (t) => t.ResourceType,
          }),
        ),
      };
    },
  };
}
