/**
 * Kamatera's command queue: the command ids a call answers with (in every shape the API uses),
 * what a queue status means, the server name in a create command's log, and waiting for a
 * command — every poll_interval, for at most wait_timeout, any status handled.
 */
import { abortableSleep } from "@kiln/core";
import type { KamateraClient } from "./client.js";
import { errors } from "./errors.js";

/**
 * The ids of the commands a call started: an array of strings or numbers, a bare number (hdlib
 * clone), `{commandIds: […]}` (create with a generated password) or `{cmdId}` (upstream's form).
 */
export function parseCommandIds(answer: unknown, what: string): string[] {
  const id = (v: unknown) =>
    typeof v === "string" && v.trim() !== ""
      ? v.trim()
      : typeof v === "number" && Number.isFinite(v)
        ? String(v)
        : undefined;
  let ids: Array<string | undefined> | undefined;
  if (Array.isArray(answer)) ids = answer.map(id);
  else if (typeof answer === "number" || typeof answer === "string") ids = [id(answer)];
  else if (answer && typeof answer === "object") {
    const a = answer as { commandIds?: unknown; cmdId?: unknown };
    if (Array.isArray(a.commandIds)) ids = a.commandIds.map(id);
    else if (a.cmdId !== undefined) ids = [id(a.cmdId)];
  }
  if (!ids || ids.length === 0 || ids.some((x) => x === undefined))
    throw errors.error(
      "KILN_KAMATERA_ANSWER",
      `${what}: the API answered ${JSON.stringify(answer)?.slice(0, 200)}, not command ids`,
      "This is not an answer kiln knows from Kamatera's API; report it with the line above.",
    );
  return ids as string[];
}

export interface QueueItem {
  id?: string | number;
  status?: string | null;
  server?: string | null;
  description?: string | null;
  log?: string | null;
}

/** `complete` is success and `error` failure (the only statuses the sources name); `cancelled` is failure too. */
export type StatusClass = "done" | "failed" | "pending" | "unknown";

const PENDING = new Set(["", "pending", "running"]);

export function classifyStatus(status: string | null | undefined): StatusClass {
  if (status === undefined || status === null) return "pending";
  const s = status.trim().toLowerCase();
  if (s === "complete") return "done";
  if (s === "error" || s === "cancelled" || s === "canceled") return "failed";
  if (PENDING.has(s)) return "pending";
  return "unknown";
}

/** The actual server name from a finished create command's log (`Name: <name>`). */
export function nameFromLog(log: string | null | undefined): string | undefined {
  const m = /^[ \t]*Name:[ \t]*(\S+)[ \t]*$/m.exec(log ?? "");
  return m?.[1];
}

export interface WaitOptions {
  pollMs: number;
  timeoutMs: number;
  /** The option that sets timeoutMs, for the message ("wait_timeout 40m"). */
  timeoutName: string;
  signal: AbortSignal;
  /** What the command does, for messages: "creating server kiln-…". */
  what: string;
  /** How many empty queue answers in a row are tolerated (the command not visible yet). Default 10. */
  maxEmpty?: number;
}

/** Wait for command `id`; resolves with its queue item when `complete`, throws on anything else. */
export async function waitCommand(client: KamateraClient, id: string, o: WaitOptions): Promise<QueueItem> {
  const deadline = Date.now() + o.timeoutMs;
  let empty = 0;
  let last: string | null | undefined;
  for (;;) {
    await abortableSleep(Math.max(0, Math.min(o.pollMs, deadline - Date.now())), o.signal);
    const answer = await client.get<unknown>(
      "/service/queue",
      { id },
      { signal: o.signal, retry: "idempotent", quiet: true },
    );
    const item = Array.isArray(answer)
      ? (answer.find((x) => String((x as QueueItem)?.id) === id) ?? answer[0])
      : undefined;
    if (!item || typeof item !== "object") {
      if (++empty > (o.maxEmpty ?? 10))
        throw errors.error(
          "KILN_KAMATERA_COMMAND",
          `${o.what}: the command queue does not know command ${id} (${empty} empty answers)`,
          "Look for the command in the Kamatera console (My Cloud → Queue).",
        );
    } else {
      empty = 0;
      const q = item as QueueItem;
      last = q.status;
      const cls = classifyStatus(q.status);
      if (cls === "done") return q;
      if (cls === "failed")
        throw errors.error(
          "KILN_KAMATERA_COMMAND",
          `${o.what} failed (command ${id}, status ${q.status}): ${(q.log ?? "").trim() || "no log"}`,
          "The command's log above is Kamatera's reason; it is also in the console under My Cloud → Queue.",
        );
      if (cls === "unknown")
        throw errors.error(
          "KILN_KAMATERA_COMMAND_STATUS",
          `${o.what}: command ${id} has status ${JSON.stringify(q.status)}, which is neither complete, error nor one of pending/running`,
          "kiln stops rather than wait for a status it does not know. Check the command in the console (My Cloud → Queue) and report the status to kiln.",
        );
    }
    if (Date.now() >= deadline)
      throw errors.error(
        "KILN_KAMATERA_TIMEOUT",
        `${o.what} did not finish within ${o.timeoutName} (command ${id}, last status ${JSON.stringify(last ?? null)})`,
        `Raise ${o.timeoutName.split(" ")[0]} if Kamatera is just slow.`,
      );
  }
}
