/**
 * The address kiln connects to: ssh_host if set, else the server's external IP as the API
 * reports it (`POST /service/server/ssh`), put in SSH_ADDRESS with ssh_port for connectStep.
 */
import { abortableSleep, type Step } from "@kiln/core";
import { type CommunicatorOptions, SSH_ADDRESS } from "@kiln/sdk";
import { KamateraApiError } from "../client.js";
import { errors } from "../errors.js";
import type { KamateraOptions } from "../schema.js";
import { API, SERVER } from "../state.js";
import { waits } from "../waits.js";

const TRIES = 5;

export function addressStep(o: KamateraOptions, comm: CommunicatorOptions): Step {
  return {
    name: "server address",
    async run(ctx) {
      if (comm.communicator !== "ssh" || comm.ssh_host) return; // connectStep uses ssh_host itself
      const client = ctx.state.require(API);
      const name = ctx.state.require(SERVER).name as string;
      let last = "";
      for (let i = 1; i <= TRIES; i++) {
        try {
          const list = await client.post<Array<{ name?: string; externalIp?: string | null }>>(
            "/service/server/ssh",
            { name },
            { signal: ctx.signal, retry: "idempotent" },
          );
          const mine = Array.isArray(list) ? list.filter((s) => s?.name === name) : [];
          if (mine.length !== 1)
            throw errors.error(
              "KILN_KAMATERA_ANSWER",
              `the address lookup of ${name} found ${mine.length} servers`,
            );
          const ip = mine[0]?.externalIp;
          if (typeof ip === "string" && ip.trim()) {
            ctx.state.put(SSH_ADDRESS, { host: ip.trim(), port: comm.ssh_port });
            ctx.ui.say(`Server ${name} has the external IP ${ip.trim()}.`);
            return;
          }
          last = "it reports no external IP";
        } catch (e) {
          // "No external IP for server name …" (500): the WAN address may not be there yet.
          if (!(e instanceof KamateraApiError && /No external IP/i.test(e.apiMessage))) throw e;
          last = e.apiMessage;
        }
        if (i < TRIES) await abortableSleep(waits(o).pollMs, ctx.signal);
      }
      throw errors.error(
        "KILN_KAMATERA_ADDRESS",
        `server ${name} has no external IP (${last})`,
        "kiln connects to the server's WAN address; the server is created with one WAN interface (network name=wan, ip=auto). Set ssh_host to reach it another way.",
      );
    },
  };
}
