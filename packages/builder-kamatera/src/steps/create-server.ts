/**
 * Create the server and wait for its create command. The name is recorded (SERVER) before the
 * request is sent, so the cleanup — which always runs, also after success, a failure or Ctrl-C
 * during the wait — finds the server by name and terminates it (terminate.ts). The actual name
 * comes from the command's log (`Name: …`); a password Kamatera generates is a secret and
 * becomes build.Password (the only login of a Windows server).
 */
import { randomBytes } from "node:crypto";
import type { Step } from "@kiln/core";
import type { CommunicatorOptions } from "@kiln/sdk";
import { KamateraApiError } from "../client.js";
import { nameFromLog, parseCommandIds, waitCommand } from "../commands.js";
import { errors } from "../errors.js";
import { createBody, type DiskPlan, serverName } from "../params.js";
import { refusedRequest } from "../retry.js";
import type { KamateraOptions } from "../schema.js";
import { API, SERVER, type ServerRecord } from "../state.js";
import { findOwnServers, terminateServer } from "../terminate.js";
import { waits } from "../waits.js";

export function createServerStep(o: KamateraOptions, comm: CommunicatorOptions, disks: DiskPlan[]): Step {
  return {
    name: "create server",
    async run(ctx) {
      const client = ctx.state.require(API);
      const rec: ServerRecord = {
        requested: serverName(ctx.run.source, randomBytes(4).toString("hex")),
        sent: false,
        settled: false,
      };
      ctx.state.put(SERVER, rec);
      const publicKey = comm.communicator === "ssh" ? String(ctx.buildVars.SSHPublicKey ?? "") : "";
      const body = createBody(o, { name: rec.requested, publicKey, password: o.ssh_password, disks });
      ctx.ui.say(
        `Creating server ${rec.requested} in ${o.datacenter} from ${o.image} (${o.cpu}, ${o.ram} MiB, ${disks.map((d) => `${d.sizeGB} GiB`).join(" + ")})${o.script ? " with a first-boot script" : ""}...`,
      );
      rec.sent = true;
      const answer = await client
        .post<unknown>("/service/server", body, { signal: ctx.signal, retry: "once" })
        .catch((e: unknown) => {
          // The proxy refused the request itself (a flag, the image …): no server was made.
          if (e instanceof KamateraApiError && refusedRequest(e.status, e.apiMessage)) rec.sent = false;
          throw e;
        });
      const generated = (answer as { password?: unknown } | null)?.password;
      if (typeof generated === "string" && generated) {
        ctx.secret(generated);
        ctx.buildVars.Password = generated;
        ctx.ui.message(
          "Kamatera generated the server's root password: it is build.Password (redacted from all output).",
        );
      }
      const [id] = parseCommandIds(answer, "creating the server");
      rec.commandId = id;
      const w = waits(o);
      let log: string | null | undefined;
      try {
        log = (
          await waitCommand(client, id as string, {
            ...w,
            signal: ctx.signal,
            what: `creating server ${rec.requested}`,
          })
        ).log;
      } catch (e) {
        if ((e as { code?: string }).code === "KILN_KAMATERA_COMMAND") rec.settled = true;
        throw e;
      }
      rec.settled = true;
      let name = nameFromLog(log);
      if (!name) {
        // No `Name:` line: the server list tells (the requested name is unique to this build).
        const found = await findOwnServers(client, rec, ctx.signal);
        if (found.length !== 1)
          throw errors.error(
            "KILN_KAMATERA_ANSWER",
            `the create command's log names no server, and ${found.length} servers match ${rec.requested}`,
          );
        name = found[0] as string;
        ctx.ui.message(`The create command's log names no server; the server list shows ${name}.`);
      }
      rec.name = name;
      ctx.buildVars.ID = name;
      ctx.ui.say(`Server ${name} is created and powered on.`);
    },
    cleanup: (ctx) => terminateServer(o, ctx),
  };
}
