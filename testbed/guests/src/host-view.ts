/**
 * What a client on the host sees of a guest's network: the agent reports the guest's own
 * addresses (10.0.2.15 behind QEMU's user network, which the host cannot reach); the host
 * reaches the guest at its own host address (198.18.0.0/15 on lo, or 127.0.0.N). hostView puts
 * that address on the NIC the user network backs (found by MAC) in place of its IPv4 addresses,
 * as a NAT in front of a cloud server would be reported; other interfaces and the NIC's
 * link-local IPv6 stay as the agent said.
 *
 * The prefix: /24 for a 198.18.x.y address — what a VM's NIC on a bridge or a cloud LAN
 * typically has (the pool hands out host parts 2…254, so the address is a plausible host of
 * that /24); /8 for 127.0.0.N, as the kernel has 127/8.
 */
import { isLoopbackV4 } from "./ipv4.js";

export interface AgentAddress {
  "ip-address": string;
  "ip-address-type": "ipv4" | "ipv6";
  prefix: number;
}

/** One entry of guest-network-get-interfaces. */
export interface AgentInterface {
  name: string;
  "hardware-address"?: string;
  "ip-addresses"?: AgentAddress[];
  statistics?: Record<string, number>;
}

export function hostView(ifaces: AgentInterface[], nic: { mac: string; address: string }): AgentInterface[] {
  const mac = nic.mac.toLowerCase();
  return ifaces.map((i) => {
    if (i["hardware-address"]?.toLowerCase() !== mac || !i["ip-addresses"]) return i;
    const v4 = i["ip-addresses"].filter((a) => a["ip-address-type"] === "ipv4");
    if (!v4.length) return i; // no address yet (DHCP not done): nothing to translate
    const rest = i["ip-addresses"].filter((a) => a["ip-address-type"] !== "ipv4");
    return {
      ...i,
      "ip-addresses": [
        { "ip-address": nic.address, "ip-address-type": "ipv4", prefix: isLoopbackV4(nic.address) ? 8 : 24 },
        ...rest,
      ],
    };
  });
}
