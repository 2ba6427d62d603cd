/** The build's server as `POST /service/server/info` shows it (power, networks …). */
import type { KamateraClient } from "./client.js";
import { errors } from "./errors.js";

export interface ServerInfo {
  id?: string;
  name?: string;
  power?: string;
  networks?: Array<{ network?: string; ips?: string[] }>;
}

export async function serverInfo(
  client: KamateraClient,
  name: string,
  signal: AbortSignal,
): Promise<ServerInfo> {
  const list = await client.post<ServerInfo[]>(
    "/service/server/info",
    { name },
    { signal, retry: "idempotent" },
  );
  const hit = Array.isArray(list) ? list.find((s) => s?.name === name) : undefined;
  if (!hit)
    throw errors.error(
      "KILN_KAMATERA_LOST",
      `server ${name} is not in the server info any more`,
      "It was terminated or lost outside this build (console, another tool).",
    );
  return hit;
}
