/** The address kiln connects to, from the guest agent's answer. */
import { describe, expect, it } from "vitest";
import { pickAddress } from "./address.js";

describe("the address to connect to", () => {
  const ifaces = [
    { name: "lo", "ip-addresses": [{ "ip-address": "127.0.0.1", "ip-address-type": "ipv4" }] },
    {
      name: "docker0",
      "ip-addresses": [{ "ip-address": "169.254.3.4", "ip-address-type": "ipv4" }],
    },
    {
      name: "eth0",
      "ip-addresses": [
        { "ip-address": "fe80::1", "ip-address-type": "ipv6" },
        { "ip-address": "192.168.1.20", "ip-address-type": "ipv4" },
      ],
    },
    { name: "eth1", "ip-addresses": [{ "ip-address": "2001:db8::5", "ip-address-type": "ipv6" }] },
  ];
  it("the first global IPv4 of a non-loopback interface (as Packer); vm_interface picks one, IPv6 too", () => {
    expect(pickAddress(ifaces)).toBe("192.168.1.20");
    expect(pickAddress(ifaces, "eth1")).toBe("2001:db8::5");
    expect(pickAddress(ifaces, "eth9")).toBeUndefined();
    // An IPv6 address alone may be a SLAAC one before the real configuration: not without vm_interface.
    expect(
      pickAddress([ifaces[0] as (typeof ifaces)[number], ifaces[3] as (typeof ifaces)[number]]),
    ).toBeUndefined();
    expect(pickAddress([])).toBeUndefined();
  });
});
