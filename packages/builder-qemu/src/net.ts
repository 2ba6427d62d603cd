/** Free TCP ports for QEMU's host forwarding and VNC. */
import { createServer } from "node:net";

function tryListen(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", () => resolve(false));
    srv.listen({ port, host, exclusive: true }, () => {
      srv.close(() => resolve(true));
    });
  });
}

/**
 * A port in min..max that nobody listens on at `host`, starting at a random place in the range
 * (as Packer does) so parallel builds rarely race for the same one. Undefined when all are taken.
 */
export async function findFreePort(
  min: number,
  max: number,
  host = "127.0.0.1",
  avoid: ReadonlySet<number> = new Set(),
): Promise<number | undefined> {
  const n = max - min + 1;
  const start = Math.floor(Math.random() * n);
  for (let i = 0; i < n; i++) {
    const port = min + ((start + i) % n);
    if (avoid.has(port)) continue;
    if (await tryListen(port, host)) return port;
  }
  return undefined;
}
