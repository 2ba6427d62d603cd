/**
 * The VM metadata service as OUTSCALE VMs see it at http://169.254.169.254 (EC2-compatible paths),
 * on loopback, for the host VM (outscale-chroot finds its own VM and subregion through it).
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

export async function serveMetadata(vm: {
  vmId: string;
  subregion: string;
}): Promise<{ url: string; close(): Promise<void> }> {
  const paths: Record<string, string> = {
    "/latest/meta-data/instance-id": vm.vmId,
    "/latest/meta-data/placement/availability-zone": vm.subregion,
  };
  const server = http.createServer((req, res) => {
    const body = req.method === "GET" ? paths[(req.url ?? "").split("?")[0] as string] : undefined;
    res.writeHead(body === undefined ? 404 : 200, { "content-type": "text/plain" });
    res.end(body ?? "Not Found");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
