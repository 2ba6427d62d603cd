/**
 * Power the server off before its disks are cloned. Over SSH the guest's file systems are
 * flushed first (`sync`): Kamatera's power-off is not a clean shutdown. A server already off
 * (the first-boot script powered it off) is left as it is.
 */
import { messageOf, type Step } from "@kiln/core";
import { COMMUNICATOR, type CommunicatorOptions } from "@kiln/sdk";
import { parseCommandIds, waitCommand } from "../commands.js";
import { errors } from "../errors.js";
import type { KamateraOptions } from "../schema.js";
import { serverInfo } from "../server-info.js";
import { API, SERVER } from "../state.js";
import { waits } from "../waits.js";

export function powerOffStep(o: KamateraOptions, comm: CommunicatorOptions): Step {
  return {
    name: "power off",
    async run(ctx) {
      const client = ctx.state.require(API);
      const name = ctx.state.require(SERVER).name as string;
      if ((await serverInfo(client, name, ctx.signal)).power === "off") {
        ctx.ui.message(`Server ${name} is off already.`);
        return;
      }
      const ssh = comm.communicator === "ssh" ? ctx.state.get(COMMUNICATOR) : undefined;
      if (ssh) {
        const r = await ssh.exec("sync", { signal: ctx.signal, timeoutMs: 120_000 }).catch((e) => {
          if (ctx.signal.aborted) throw e;
          ctx.ui.message(`sync before the power-off failed: ${messageOf(e)}`);
          return undefined;
        });
        if (r && r.exitCode !== 0) ctx.ui.message(`sync before the power-off exited with ${r.exitCode}`);
      }
      ctx.ui.say(`Powering off ${name}...`);
      const answer = await client.post<unknown>(
        "/service/server/poweroff",
        { name },
        { signal: ctx.signal, retry: "once" },
      );
      for (const id of parseCommandIds(answer, `powering off ${name}`))
        await waitCommand(client, id, { ...waits(o), signal: ctx.signal, what: `powering off ${name}` });
      const after = await serverInfo(client, name, ctx.signal);
      if (after.power !== "off")
        throw errors.error(
          "KILN_KAMATERA_POWER",
          `the power-off of ${name} finished, but the server is ${after.power ?? "in an unknown power state"}`,
        );
      ctx.ui.say(`Server ${name} is off.`);
    },
  };
}
