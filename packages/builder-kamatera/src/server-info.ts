/** The build's server as `POST /service/server/info` shows it (power, networks …). */
import { KamateraApiError, type KamateraClient } from "./client.js";
import { errors } from "./errors.js";

export interface ServerInfo {
  id?: string;
  name?: string;
  power?: string;
  networks?: Array<{ network?: string; ips?: string[] }>;
}

/** The server's info; a server the API no longer knows ("No servers found") is KILN_KAMATERA_LOST. */
export async function serverInfo(
  client: KamateraClient,
  name: string,
  signal: AbortSignal,
): Promise<ServerInfo> {
  const lost = () =>
    errors.error(
      "KILN_KAMATERA_LOST",
      `server ${name} is not in the server info any more`,
      "It was terminated or lost outside this build (console, another tool).",
    );
  const list = await client
    .post<ServerInfo[]>("/service/server/info", { name }, { signal, retry: "idempotent" })
    .catch((e: unknown) => {
      throw e instanceof KamateraApiError && /^No servers found/.test(e.apiMessage) ? lost() : e;
    });
  const hit = Array.isArray(list) ? list.find((s) => s?.name === name) : undefined;
  if (!hit) throw lost();
  return hit;
}
