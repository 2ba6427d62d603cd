/**
 * The create step's cleanup, which runs whatever happened (success, failure, Ctrl-C, also
 * during the create wait): find the build's server by name in the server list and terminate
 * it with force, waiting for the terminate command; a failed terminate is tried again, and one
 * that keeps failing is an error naming the server, which is still billed.
 */
import { abortableSleep, messageOf, type RunContext } from "@kiln/core";
import type { KamateraClient } from "./client.js";
import { classifyStatus, parseCommandIds, type QueueItem, waitCommand } from "./commands.js";
import { errors } from "./errors.js";
import type { KamateraOptions } from "./schema.js";
import { API, SERVER, type ServerRecord } from "./state.js";
import { waits } from "./waits.js";

const TERMINATE_ATTEMPTS = 3;
/** The cleanup never waits longer than this for one command, whatever wait_timeout says. */
const CLEANUP_WAIT_CAP_MS = 15 * 60_000;

/**
 * The build's servers in the list: the name the create log gave, or — when the build stopped
 * before it — the requested name (or a name Kamatera made from it by appending to it).
 */
export async function findOwnServers(
  client: KamateraClient,
  rec: ServerRecord,
  signal: AbortSignal,
): Promise<string[]> {
  const list = await client.get<Array<{ name?: unknown }>>(
    "/service/servers",
    {},
    { signal, retry: "idempotent" },
  );
  const names = (Array.isArray(list) ? list : [])
    .map((s) => s?.name)
    .filter((n): n is string => typeof n === "string");
  if (rec.name) return names.filter((n) => n === rec.name);
  return names.filter((n) => n === rec.requested || n.startsWith(`${rec.requested}-`));
}

async function commandSettled(client: KamateraClient, id: string, signal: AbortSignal): Promise<boolean> {
  const answer = await client.get<QueueItem[]>(
    "/service/queue",
    { id },
    { signal, retry: "idempotent", quiet: true },
  );
  const cls = classifyStatus(Array.isArray(answer) ? answer[0]?.status : undefined);
  return cls !== "pending";
}

export async function terminateServer(o: KamateraOptions, ctx: RunContext): Promise<void> {
  const rec = ctx.state.get(SERVER);
  const client = ctx.state.get(API);
  if (!rec?.sent || rec.terminated || !client) return;
  const w = waits(o);
  const timeoutMs = Math.min(w.timeoutMs, CLEANUP_WAIT_CAP_MS);
  const deadline = Date.now() + timeoutMs;
  const label = rec.name ?? rec.requested;
  let names = await findOwnServers(client, rec, ctx.signal);
  // Stopped during the create wait, or the create answer was lost: the server may still appear.
  const lookFor = rec.commandId ? deadline : Date.now() + Math.min(20_000, 10 * w.pollMs);
  while (!names.length && !rec.settled && Date.now() < lookFor) {
    await abortableSleep(w.pollMs, ctx.signal);
    if (rec.commandId)
      rec.settled = await commandSettled(client, rec.commandId, ctx.signal).catch(() => false);
    names = await findOwnServers(client, rec, ctx.signal);
  }
  if (!names.length) {
    ctx.ui.message(`No server ${label} exists (any more): nothing to terminate.`);
    rec.terminated = true;
    return;
  }
  // A throw here fails the run even when every step succeeded (core: KILN_CLEANUP_FAILED).
  for (const name of names) await terminateOne(client, name, rec, { ...w, timeoutMs }, ctx);
  rec.terminated = true;
}

async function terminateOne(
  client: KamateraClient,
  name: string,
  rec: ServerRecord,
  w: ReturnType<typeof waits>,
  ctx: RunContext,
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      ctx.ui.say(`Terminating server ${name}...`);
      const answer = await client.post<unknown>(
        "/service/server/terminate",
        { name, force: true },
        { signal: ctx.signal, retry: "idempotent" },
      );
      for (const id of parseCommandIds(answer, `terminating server ${name}`))
        await waitCommand(client, id, { ...w, signal: ctx.signal, what: `terminating server ${name}` });
      ctx.ui.say(`Server ${name} is terminated.`);
      return;
    } catch (e) {
      const still = await findOwnServers(client, { ...rec, name }, ctx.signal).then(
        (l) => l.includes(name),
        () => true,
      );
      if (!still) {
        ctx.ui.message(`Server ${name} is gone.`);
        return;
      }
      if (attempt >= TERMINATE_ATTEMPTS)
        throw errors.error(
          "KILN_KAMATERA_TERMINATE",
          `could not terminate server ${name} (${attempt} attempts): ${messageOf(e).replace(/^\[kamatera\] /, "")}`,
          `The server still exists and is billed: terminate it in the Kamatera console (My Cloud → Servers) or with \`cloudcli server terminate --name ${name} --force\`.`,
        );
      ctx.ui.error(`Terminating ${name} failed: ${messageOf(e)}; trying again in ${2 * attempt}s.`);
      await abortableSleep(2000 * attempt, ctx.signal);
    }
  }
}
