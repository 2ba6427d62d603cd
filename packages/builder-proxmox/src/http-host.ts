/** The address the guest reaches kiln's HTTP server at: http_host, http_interface's, or the server's own. */
import { networkInterfaces } from "node:os";
import type { CommonOptions } from "./schema.js";

/** The IPv4 address of one of this machine's interfaces. */
export function interfaceAddress(name: string): string | undefined {
  return networkInterfaces()[name]?.find((a) => a.family === "IPv4")?.address;
}

export function guestHttpIp(
  o: Pick<CommonOptions, "http_host" | "http_interface">,
  serverIp: string,
): string {
  return o.http_host ?? (o.http_interface ? interfaceAddress(o.http_interface) : undefined) ?? serverIp;
}
