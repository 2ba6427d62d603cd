/**
 * How Packer's proxmox builder picks the VM's address from the agent's network-get-interfaces
 * answer (builder/proxmox/common/builder.go getVMIP, without vm_interface): the first address,
 * interface by interface, that is IPv4 and not loopback — Go's net.IP.IsLoopback(), true for all
 * of 127.0.0.0/8 and ::1, on any interface. For tests: the double must give an address a real
 * client takes (kiln's own rule is packages/builder-proxmox/src/address.ts).
 */

interface AgentIface {
  name: string;
  "ip-addresses"?: { "ip-address": string; "ip-address-type"?: string }[];
}

const V4 = /^(\d{1,3})\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

export function packerVmIp(ifaces: AgentIface[]): string | undefined {
  for (const i of ifaces)
    for (const a of i["ip-addresses"] ?? []) {
      const m = V4.exec(a["ip-address"]);
      if (!m || m[1] === "127") continue; // IPv6 (To4() == nil) or loopback
      return a["ip-address"];
    }
  return undefined;
}
