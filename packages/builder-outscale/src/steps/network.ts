/**
 * Where the VM goes: subnet_id, or the subnet subnet_filter finds (within net_id or the Net
 * net_filter finds; the most free or a random one of several), its Net and subregion — or the
 * public cloud in subregion_name. Unlike the plugin, the Net and subregion really limit the search.
 */
import type { Step } from "@kiln/core";
import { errors } from "../errors.js";
import { oapiFilters } from "../filters.js";
import type { BsuOptions } from "../schema.js";
import { API, NETWORK } from "../state.js";

interface Subnet {
  SubnetId: string;
  NetId: string;
  SubregionName: string;
  AvailableIpsCount?: number;
  State?: string;
}

export function networkStep(o: BsuOptions): Step {
  return {
    name: "network",
    async run(ctx) {
      const { client } = ctx.state.require(API);
      let netId = o.net_id;
      if (!netId && o.net_filter) {
        const r = await client.call<{ Nets?: Array<{ NetId: string }> }>(
          "ReadNets",
          {
            Filters: {
              ...oapiFilters("net", o.net_filter.filters, "net_filter.filters"),
              States: ["available"],
            },
          },
          ctx.signal,
        );
        const nets = r.Nets ?? [];
        if (nets.length !== 1)
          throw errors.config(
            `net_filter matched ${nets.length} Nets${nets.length ? ` (${nets.map((n) => n.NetId).join(", ")})` : ""}; it must match one`,
          );
        netId = nets[0]?.NetId;
      }
      let subnet: Subnet | undefined;
      if (o.subnet_id) {
        const r = await client.call<{ Subnets?: Subnet[] }>(
          "ReadSubnets",
          { Filters: { SubnetIds: [o.subnet_id] } },
          ctx.signal,
        );
        subnet = r.Subnets?.[0];
        if (!subnet) throw errors.config(`subnet_id ${o.subnet_id} does not exist`);
      } else if (o.subnet_filter || netId) {
        const filters = {
          ...oapiFilters("subnet", o.subnet_filter?.filters, "subnet_filter.filters"),
          States: ["available"],
          ...(netId ? { NetIds: [netId] } : {}),
          ...(o.subregion_name ? { SubregionNames: [o.subregion_name] } : {}),
        };
        const r = await client.call<{ Subnets?: Subnet[] }>("ReadSubnets", { Filters: filters }, ctx.signal);
        const list = (r.Subnets ?? []).filter((s) => (s.AvailableIpsCount ?? 1) > 0);
        if (!list.length) throw errors.config(`no available subnet matches ${JSON.stringify(filters)}`);
        if (list.length > 1 && !o.subnet_filter?.most_free && !o.subnet_filter?.random)
          throw errors.config(
            `${list.length} subnets match (${list.map((s) => s.SubnetId).join(", ")})`,
            "Narrow subnet_filter, or set subnet_filter.most_free or subnet_filter.random.",
          );
        subnet = o.subnet_filter?.random
          ? list[Math.floor(Math.random() * list.length)]
          : [...list].sort((a, b) => (b.AvailableIpsCount ?? 0) - (a.AvailableIpsCount ?? 0))[0];
      }
      if (subnet && o.subregion_name && subnet.SubregionName !== o.subregion_name)
        throw errors.config(
          `subnet ${subnet.SubnetId} is in ${subnet.SubregionName}, not subregion_name ${o.subregion_name}`,
        );
      const net = subnet
        ? { subnetId: subnet.SubnetId, netId: subnet.NetId, subregion: subnet.SubregionName }
        : { ...(o.subregion_name ? { subregion: o.subregion_name } : {}) };
      ctx.state.put(NETWORK, net);
      if (subnet)
        ctx.ui.say(
          `Launching in subnet ${subnet.SubnetId} of Net ${subnet.NetId} (${subnet.SubregionName}).`,
        );
    },
  };
}
