/** Log in to the Proxmox VE API and check the node; the client goes into the state (API). */
import type { Step } from "@kiln/core";
import { credentials } from "../credentials.js";
import { errors } from "../errors.js";
import { openClient } from "../open-client.js";
import type { CommonOptions } from "../schema.js";
import { API } from "../state.js";

export function connectApiStep(o: CommonOptions): Step {
  return {
    name: "proxmox api",
    async run(ctx) {
      const client = await openClient(o, ctx);
      ctx.state.put(API, client);
      const version = await client.connect(ctx.signal);
      for (const s of client.secrets()) ctx.secret(s);
      if (o.insecure_skip_tls_verify)
        ctx.ui.message("insecure_skip_tls_verify: the server's certificate is not checked.");
      ctx.ui.say(
        `Connected to Proxmox VE ${version.version} at ${client.base.host} as ${credentials(o).username} (${client.usesToken ? "API token" : "ticket"}).`,
      );
      const nodes = await client.get<Array<{ node: string; status?: string }>>(
        "/nodes",
        undefined,
        ctx.signal,
      );
      const mine = nodes.find((n) => n.node === o.node);
      if (!mine)
        throw errors.error(
          "KILN_PROXMOX_NODE",
          `node ${JSON.stringify(o.node)} is not in the cluster`,
          `Set node to one of: ${nodes.map((n) => n.node).join(", ") || "(none visible to this user)"}.`,
        );
      if (mine.status && mine.status !== "online")
        throw errors.error(
          "KILN_PROXMOX_NODE",
          `node ${o.node} is ${mine.status}`,
          "Pick a node that is online.",
        );
    },
    async cleanup(ctx) {
      ctx.state.get(API)?.close();
      ctx.state.delete(API);
    },
  };
}
