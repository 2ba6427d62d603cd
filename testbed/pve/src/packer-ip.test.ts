import { describe, expect, test } from "vitest";
import { packerVmIp } from "./packer-ip.js";

const v4 = (a: string) => ({ "ip-address": a, "ip-address-type": "ipv4" });
const v6 = (a: string) => ({ "ip-address": a, "ip-address-type": "ipv6" });

describe("packerVmIp (Packer's proxmox getVMIP without vm_interface)", () => {
  test("skips all of 127/8 on any interface, and IPv6; takes the first other IPv4", () => {
    expect(
      packerVmIp([
        { name: "lo", "ip-addresses": [v4("127.0.0.1"), v6("::1")] },
        { name: "eth0", "ip-addresses": [v6("fe80::1"), v4("127.0.0.7")] },
      ]),
    ).toBeUndefined(); // what the double's 127.0.0.N answers gave Packer: nothing
    expect(
      packerVmIp([
        { name: "lo", "ip-addresses": [v4("127.0.0.1")] },
        { name: "eth0", "ip-addresses": [v6("fe80::1"), v4("198.18.0.9")] },
        { name: "eth1", "ip-addresses": [v4("10.0.0.5")] },
      ]),
    ).toBe("198.18.0.9");
    expect(packerVmIp([{ name: "eth0" }])).toBeUndefined();
  });
});
