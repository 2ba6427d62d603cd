/** Refuse to start when an OMI of omi_name exists already, unless force_deregister (or --force) will delete it. */
import type { Step } from "@kiln/core";
import { errors } from "../errors.js";
import type { BsuOptions } from "../schema.js";
import { API } from "../state.js";

export function preValidateStep(o: BsuOptions): Step {
  return {
    name: "pre-validate",
    async run(ctx) {
      if (o.force_deregister || ctx.force || o.skip_create_omi) return;
      const { client, accountId } = ctx.state.require(API);
      const r = await client.call<{ Images?: Array<{ ImageId: string }> }>(
        "ReadImages",
        { Filters: { ImageNames: [o.omi_name], AccountIds: [accountId] } },
        ctx.signal,
      );
      const found = r.Images?.[0];
      if (found)
        throw errors.config(
          `an OMI named ${JSON.stringify(o.omi_name)} exists already (${found.ImageId})`,
          "Pick another omi_name (e.g. with ${{ timestamp() }}), or set force_deregister: true (or kiln build --force) to replace it.",
        );
    },
  };
}
