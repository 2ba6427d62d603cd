/**
 * Check before anything is created: the datacenter exists, the image resolves there (as the
 * API will resolve it), the CPU type, core count, memory and disk sizes are offered, and no
 * library image already has a name the build would take. Read-only calls.
 */
import type { Step } from "@kiln/core";
import {
  type Capabilities,
  checkCapabilities,
  checkDatacenter,
  checkImage,
  checkLibraryNames,
  type ServerOptions,
} from "../catalog.js";
import type { DiskPlan } from "../params.js";
import type { KamateraOptions } from "../schema.js";
import { API } from "../state.js";

export function preflightStep(o: KamateraOptions, disks: DiskPlan[]): Step {
  return {
    name: "check datacenter and image",
    async run(ctx) {
      const client = ctx.state.require(API);
      const call = { signal: ctx.signal, retry: "idempotent" } as const;
      const opts = await client.get<ServerOptions>("/service/server", {}, call);
      checkDatacenter(opts, o.datacenter);
      const image = checkImage(opts, o.image, o.datacenter);
      checkLibraryNames(opts, o.datacenter, disks);
      const caps = await client.get<Capabilities>(
        "/service/server",
        { capabilities: "1", datacenter: o.datacenter },
        call,
      );
      checkCapabilities(caps, o.cpu, Number(o.ram), disks, o.datacenter);
      ctx.ui.message(
        `Datacenter ${o.datacenter}, image ${image ? `${image.description} (${image.id})` : o.image}, cpu ${o.cpu}, ${o.ram} MiB, disks ${disks.map((d) => `${d.sizeGB} GiB`).join(" + ")}.`,
      );
    },
  };
}
