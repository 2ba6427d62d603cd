/** Host ports for a guest's forwarded TCP ports, on the guest's own host address. */
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
 * that only knows the address uses the default port), else one the kernel picks. A Forward
 * (`{ guest, host }`) keeps the host port it names.
 */
export async function choosePorts(address: string, wanted: (number | Forward)[]): Promise<Forward[]> {
  const out: Forward[] = [];
  const check = (p: number, what: string) => {
    if (!Number.isInteger(p) || p < 1 || p > 65535)
      throw new Error(`forward: ${what} ${p} is not a TCP port (1-65535)`);
  };
  for (const w of wanted) {
    const guest = typeof w === "number" ? w : w.guest;
    check(guest, "guest port");
    if (out.some((f) => f.guest === guest)) continue;
    if (typeof w !== "number") {
      check(w.host, "host port");
      out.push({ guest, host: w.host });
      continue;
    }
    const taken = out.some((f) => f.host === guest);
    out.push({ guest, host: !taken && (await portFree(address, guest)) ? guest : await freePort(address) });
  }
  return out;
}
