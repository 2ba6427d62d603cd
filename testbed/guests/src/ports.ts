/** Host ports for a guest's forwarded TCP ports, on the guest's own loopback address. */
import net from "node:net";

/** Whether nothing listens on `address:port` and this process may bind it. */
export function portFree(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once("error", () => resolve(false));
    srv.listen({ host: address, port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** A port the kernel picks as free on `address`. */
export function freePort(address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen({ host: address, port: 0, exclusive: true }, () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface Forward {
  /** TCP port in the guest. */
  guest: number;
  /** Port on the guest's host address that QEMU forwards to it. */
  host: number;
}

/**
 * For each guest port: the same port on `address` when it is free there (22 → 22, so a client
 * that only knows the address uses the default port), else one the kernel picks.
 */
export async function choosePorts(address: string, guestPorts: number[]): Promise<Forward[]> {
  const out: Forward[] = [];
  for (const guest of [...new Set(guestPorts)]) {
    if (!Number.isInteger(guest) || guest < 1 || guest > 65535)
      throw new Error(`forward: ${guest} is not a TCP port (1-65535)`);
    const taken = out.some((f) => f.host === guest);
    out.push({ guest, host: !taken && (await portFree(address, guest)) ? guest : await freePort(address) });
  }
  return out;
}
