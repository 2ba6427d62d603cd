/** Which of the addresses the QEMU guest agent reports kiln connects to (pure). */

/** One interface of the agent's network-get-interfaces answer. */
export interface AgentInterface {
  name: string;
  "hardware-address"?: string;
  "ip-addresses"?: Array<{ "ip-address": string; "ip-address-type": string; prefix?: number }>;
}

/** The address to SSH to: vm_interface's, else the first global IPv4 (then IPv6) of a non-loopback interface. */
export function pickAddress(ifaces: AgentInterface[], want?: string): string | undefined {
  const candidates = ifaces.filter((i) =>
    want ? i.name === want : i.name !== "lo" && !i.name.startsWith("lo"),
  );
  // As Packer: IPv4 only, unless vm_interface names the interface (an IPv6 address may be a
  // SLAAC one that comes before the real configuration).
  for (const family of want ? ["ipv4", "ipv6"] : ["ipv4"]) {
    for (const i of candidates) {
      for (const a of i["ip-addresses"] ?? []) {
        if (a["ip-address-type"] !== family) continue;
        const ip = a["ip-address"];
        if (
          family === "ipv4" &&
          (ip.startsWith("169.254.") || (ip.startsWith("127.") && want === undefined && i.name === "lo"))
        )
          continue;
        if (family === "ipv6" && (/^fe80:/i.test(ip) || ip === "::1")) continue;
        return ip;
      }
    }
  }
  return undefined;
}
