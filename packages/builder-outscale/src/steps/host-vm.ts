/**
 * outscale-chroot: which OUTSCALE VM kiln runs on, and where — from the metadata service
 * (metadata_endpoint, OUTSCALE's http://169.254.169.254 by default), checked with ReadVms.
 */
import { messageOf, type Step } from "@kiln/core";
import { errors } from "../errors.js";
import type { ChrootBuilderOptions } from "../schema.js";
import { API, HOST_VM } from "../state.js";
import { readVm } from "./run-vm.js";

async function metadata(base: string, path: string, signal: AbortSignal): Promise<string> {
  const url = `${base.replace(/\/+$/, "")}/latest/meta-data/${path}`;
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.any([signal, AbortSignal.timeout(10_000)]) });
  } catch (e) {
    throw errors.config(
      `cannot reach the metadata service at ${url}: ${messageOf(e)}`,
      "outscale-chroot runs on an OUTSCALE VM (it links the volume to that VM); set metadata_endpoint if the service is elsewhere.",
    );
  }
  if (!res.ok) throw errors.config(`the metadata service answered ${res.status} for ${url}`);
  return (await res.text()).trim();
}

export function hostVmStep(o: Pick<ChrootBuilderOptions, "metadata_endpoint">): Step {
  return {
    name: "host vm",
    async run(ctx) {
      const { client } = ctx.state.require(API);
      const id = await metadata(o.metadata_endpoint, "instance-id", ctx.signal);
      const subregion = await metadata(o.metadata_endpoint, "placement/availability-zone", ctx.signal);
      const vm = await readVm(client, id, ctx.signal);
      if (!vm)
        throw errors.config(
          `this machine is the VM ${id} by its metadata, but the account does not see it`,
          "Run kiln on a VM of the account whose keys it uses.",
        );
      ctx.state.put(HOST_VM, { id, subregion });
      ctx.ui.say(`Running on VM ${id} in ${subregion}.`);
    },
  };
}
