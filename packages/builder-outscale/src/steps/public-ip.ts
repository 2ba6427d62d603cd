/** A public IP for the VM (associate_public_ip_address): made here, linked by run-vm, deleted in cleanup. */
import { type Step, throwIfAborted } from "@kiln/core";
import { isNotFound } from "../client.js";
import type { BsuOptions } from "../schema.js";
import { API, PUBLIC_IP } from "../state.js";

export function publicIpStep(o: BsuOptions): Step {
  let creating: Promise<unknown> | undefined;
  return {
    name: "public ip",
    async run(ctx) {
      if (!o.associate_public_ip_address) return;
      const { client } = ctx.state.require(API);
      // Not abortable: an interrupted request may still have made it; cleanup waits for it.
      const call = client
        .call<{ PublicIp: { PublicIpId: string; PublicIp: string } }>("CreatePublicIp", {})
        .then((r) => {
          ctx.state.put(PUBLIC_IP, { id: r.PublicIp.PublicIpId, address: r.PublicIp.PublicIp });
          return r;
        });
      creating = call;
      const r = await call;
      throwIfAborted(ctx.signal, "public ip");
      ctx.ui.say(`Allocated the public IP ${r.PublicIp.PublicIp}.`);
    },
    async cleanup(ctx) {
      await creating?.catch(() => {});
      const ip = ctx.state.get(PUBLIC_IP);
      const api = ctx.state.get(API);
      if (!ip || !api) return;
      // The VM's deletion unlinks it; unlink anyway in case the VM outlived its cleanup.
      const r = await api.client.call<{ PublicIps?: Array<{ LinkPublicIpId?: string }> }>("ReadPublicIps", {
        Filters: { PublicIpIds: [ip.id] },
      });
      const link = r.PublicIps?.[0]?.LinkPublicIpId;
      if (link) await api.client.call("UnlinkPublicIp", { LinkPublicIpId: link }).catch(() => {});
      await api.client.call("DeletePublicIp", { PublicIpId: ip.id }).catch((e) => {
        if (!isNotFound(e)) throw e;
      });
      ctx.state.delete(PUBLIC_IP);
      ctx.ui.say(`Released the public IP ${ip.address}.`);
    },
  };
}
