/**
 * The VM's security groups: security_group_id(s), or those security_group_filter finds, or a
 * temporary group (in the VM's Net) that admits only temporary_security_group_source_cidr to the
 * SSH port; the temporary one is deleted in cleanup, once the VM no longer holds it.
 */
import { randomUUID } from "node:crypto";
import { abortableSleep, type Step, throwIfAborted } from "@kiln/core";
import { isNotFound, OapiError } from "../client.js";
import { errors } from "../errors.js";
import { oapiFilters } from "../filters.js";
import type { BsuOptions } from "../schema.js";
import { API, NETWORK, SECURITY_GROUPS } from "../state.js";

export function securityGroupStep(o: BsuOptions): Step {
  let creating: Promise<unknown> | undefined;
  return {
    name: "security group",
    async run(ctx) {
      const { client } = ctx.state.require(API);
      const net = ctx.state.get(NETWORK);
      const given = [...(o.security_group_id ? [o.security_group_id] : []), ...(o.security_group_ids ?? [])];
      if (given.length || o.security_group_filter) {
        const filters = given.length
          ? { SecurityGroupIds: given }
          : oapiFilters("securityGroup", o.security_group_filter?.filters, "security_group_filter.filters");
        const r = await client.call<{ SecurityGroups?: Array<{ SecurityGroupId: string }> }>(
          "ReadSecurityGroups",
          { Filters: filters },
          ctx.signal,
        );
        const ids = (r.SecurityGroups ?? []).map((g) => g.SecurityGroupId);
        if (!ids.length) throw errors.config(`no security group matches ${JSON.stringify(filters)}`);
        ctx.state.put(SECURITY_GROUPS, { ids });
        return;
      }
      const port = o.ssh_port;
      const cidr = o.temporary_security_group_source_cidr;
      const name = `kiln_osc_${randomUUID()}`;
      const call = client.call<{ SecurityGroup: { SecurityGroupId: string } }>("CreateSecurityGroup", {
        SecurityGroupName: name,
        Description: "Temporary group for kiln",
        ...(net?.netId ? { NetId: net.netId } : {}),
      });
      creating = call.then((r) => {
        const made = r.SecurityGroup.SecurityGroupId;
        ctx.state.put(SECURITY_GROUPS, { ids: [made], created: made });
      });
      await creating;
      const id = (await call).SecurityGroup.SecurityGroupId;
      throwIfAborted(ctx.signal, "security group");
      await client.call(
        "CreateSecurityGroupRule",
        {
          SecurityGroupId: id,
          Flow: "Inbound",
          Rules: [{ FromPortRange: port, ToPortRange: port, IpProtocol: "tcp", IpRanges: [cidr] }],
        },
        ctx.signal,
      );
      ctx.ui.say(`Created the temporary security group ${id}: TCP ${port} from ${cidr}.`);
      if (cidr === "0.0.0.0/0")
        ctx.ui.message(
          "It admits the whole internet to SSH while the build runs; set temporary_security_group_source_cidr to your address/32 to narrow it.",
        );
    },
    async cleanup(ctx) {
      await creating?.catch(() => {});
      const sg = ctx.state.get(SECURITY_GROUPS);
      const api = ctx.state.get(API);
      if (!sg?.created || !api) return;
      // A VM that is still terminating holds the group: retry for a while.
      for (let attempt = 1; ; attempt++) {
        try {
          await api.client.call("DeleteSecurityGroup", { SecurityGroupId: sg.created });
          break;
        } catch (e) {
          if (isNotFound(e)) break;
          if (!(e instanceof OapiError) || e.status !== 409 || attempt >= 20) throw e;
          await abortableSleep(Math.min(5000, 250 * attempt));
        }
      }
      ctx.state.delete(SECURITY_GROUPS);
      ctx.ui.say(`Deleted the temporary security group ${sg.created}.`);
    },
  };
}
