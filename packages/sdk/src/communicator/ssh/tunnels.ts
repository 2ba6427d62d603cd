/**
 * ssh_local_tunnels and ssh_remote_tunnels, as `ssh -L` and `ssh -R`: "[bind:]port:host:hostport".
 * Local tunnels listen here and open a channel to host:hostport on the machine's side; remote
 * tunnels ask the server to listen and connect each channel to host:hostport on this side. They
 * live as long as the connection; closeTunnels stops the listeners.
 */
import { createServer, type Server, connect as tcpConnect } from "node:net";
import type { Client } from "ssh2";
import { CommunicatorError } from "../errors.js";

export interface TunnelSpec {
  bind: string;
  port: number;
  host: string;
  hostPort: number;
}

/** Parse "[bind:]port:host:hostport" (an IPv6 host in brackets). */
export function parseTunnel(spec: string, option: string): TunnelSpec {
  const parts = spec.match(/\[[^\]]*\]|[^:]+/g) ?? [];
  const strip = (s: string) => s.replace(/^\[(.*)\]$/, "$1");
  const [a, b, c, d] = parts.length === 3 ? ["localhost", ...parts] : parts;
  const port = Number(b);
  const hostPort = Number(d);
  if (
    parts.length < 3 ||
    parts.length > 4 ||
    !Number.isInteger(port) ||
    !Number.isInteger(hostPort) ||
    !c ||
    port < 0 ||
    port > 65535 ||
    hostPort < 1 ||
    hostPort > 65535
  )
    throw new CommunicatorError(
      "KILN_SSH_CONFIG",
      `[ssh] ${option}: "${spec}" is not [bind_address:]port:host:hostport`,
      {
        hint: 'Write e.g. "8080:localhost:80" or "127.0.0.1:5432:db.internal:5432".',
      },
    );
  return { bind: strip(a as string), port, host: strip(c), hostPort };
}

export interface Tunnels {
  close(): Promise<void>;
}

/** Open the tunnels over `client`. */
export async function openTunnels(
  client: Client,
  local: readonly string[],
  remote: readonly string[],
  log: (line: string) => void,
): Promise<Tunnels> {
  const servers: Server[] = [];
  for (const spec of local) {
    const t = parseTunnel(spec, "ssh_local_tunnels");
    const server = createServer((sock) => {
      client.forwardOut(
        sock.remoteAddress ?? "127.0.0.1",
        sock.remotePort ?? 0,
        t.host,
        t.hostPort,
        (err, ch) => {
          if (err) {
            log(`ssh_local_tunnels ${spec}: ${err.message}`);
            sock.destroy();
            return;
          }
          sock.pipe(ch).pipe(sock);
          sock.on("error", () => ch.close());
          ch.on("error", () => sock.destroy());
        },
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", (e) =>
        reject(
          new CommunicatorError(
            "KILN_SSH_TUNNEL",
            `[ssh] ssh_local_tunnels ${spec}: cannot listen: ${e.message}`,
          ),
        ),
      );
      server.listen(t.port, t.bind, () => resolve());
    });
    servers.push(server);
    log(`tunnel ${t.bind}:${t.port} → ${t.host}:${t.hostPort} (on the machine's side)`);
  }
  const remoteSpecs = remote.map((s) => parseTunnel(s, "ssh_remote_tunnels"));
  if (remoteSpecs.length > 0) {
    client.on("tcp connection", (info, accept, reject) => {
      const t = remoteSpecs.find((r) => r.port === info.destPort);
      if (!t) return reject();
      const ch = accept();
      const sock = tcpConnect(t.hostPort, t.host, () => sock.pipe(ch).pipe(sock));
      sock.on("error", () => ch.close());
      ch.on("error", () => sock.destroy());
    });
    for (const t of remoteSpecs) {
      await new Promise<void>((resolve, reject) =>
        client.forwardIn(t.bind === "localhost" ? "127.0.0.1" : t.bind, t.port, (err) =>
          err
            ? reject(
                new CommunicatorError(
                  "KILN_SSH_TUNNEL",
                  `[ssh] ssh_remote_tunnels ${t.port}: the server refused: ${err.message}`,
                ),
              )
            : resolve(),
        ),
      );
      log(`tunnel ${t.bind}:${t.port} on the machine → ${t.host}:${t.hostPort} (this side)`);
    }
  }
  return {
    close: async () => {
      await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    },
  };
}
