/**
 * Check the credentials as the plugin does (`ReadVms {DryRun:true}`), learn the caller's account
 * (`ReadAccounts`), and keep the client for the other steps; closed last, in cleanup.
 */
import type { Step } from "@kiln/core";
import { openClient } from "../open-client.js";
import type { BsuOptions } from "../schema.js";
import { API } from "../state.js";

export function apiStep(o: BsuOptions): Step {
  return {
    name: "outscale api",
    async run(ctx) {
      const client = openClient(o, ctx);
      ctx.state.put(API, { client, accountId: "", region: client.credentials.region });
      await client.call("ReadVms", { DryRun: true }, ctx.signal);
      const acc = await client.call<{ Accounts?: Array<{ AccountId: string }> }>(
        "ReadAccounts",
        {},
        ctx.signal,
      );
      const accountId = acc.Accounts?.[0]?.AccountId ?? "";
      ctx.state.put(API, { client, accountId, region: client.credentials.region });
      ctx.ui.say(`Signed in to OUTSCALE ${client.credentials.region} as account ${accountId}.`);
    },
    async cleanup(ctx) {
      ctx.state.get(API)?.client.close();
      ctx.state.delete(API);
    },
  };
}
