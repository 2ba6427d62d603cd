/** Make the API client for the run (credentials from the options or KAMATERA_*); it goes into the state (API). */
import type { Step } from "@kiln/core";
import { KamateraClient } from "../client.js";
import { credentials } from "../credentials.js";
import type { KamateraOptions } from "../schema.js";
import { API } from "../state.js";

const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/;

export function connectApiStep(o: KamateraOptions): Step {
  return {
    name: "kamatera api",
    async run(ctx) {
      const c = credentials(o);
      ctx.secret(c.secret);
      const url = new URL(c.url);
      if (url.protocol === "http:" && !LOOPBACK.test(url.hostname))
        ctx.ui.error(
          `api_url ${c.url} is plain HTTP: the API secret crosses the network unencrypted. Use https://.`,
        );
      ctx.state.put(API, new KamateraClient({ ...c, log: (line) => ctx.ui.message(line) }));
      ctx.ui.say(`Using the Kamatera API at ${url.host} as client ${c.clientId}.`);
    },
    async cleanup(ctx) {
      ctx.state.get(API)?.close();
      ctx.state.delete(API);
    },
  };
}
