/** The options' defaults: the schema's, the computed ones, and the machine they give. */
import { applyDefaults } from "@kiln/core";
import { describe, expect, it } from "vitest";
import { defaultArgs } from "./args.js";
import {
  displayOf,
  forwardsSshPort,
  httpGuestIp,
  machineType,
  userSerialFile,
  vmName,
  vncRange,
  wantsUserQmp,
} from "./defaults.js";
import { lastPercent } from "./progress.js";
import { type QemuOptions, qemuSchema } from "./schema.js";
import { vmConfig } from "./vm-config.js";

const opts = (o: Partial<QemuOptions> = {}): QemuOptions =>
  applyDefaults(qemuSchema, { iso_url: "x.iso", ...o }) as QemuOptions;
const ctx = { run: { name: "b.qemu.src", build: "b", source: "src", type: "qemu", runUuid: "u" } };
const get = (entries: string[][], sw: string) => entries.filter((e) => e[0] === sw).map((e) => e[1]);

describe("schema defaults (Packer's)", () => {
  it("fills in the plain defaults and leaves the computed ones unset", () => {
    const o = opts();
    expect(o).toMatchObject({
      cpus: 1,
      memory: 512,
      disk_size: 40960,
      format: "qcow2",
      disk_interface: "virtio",
      disk_cache: "writeback",
      disk_discard: "ignore",
      disk_detect_zeroes: "off",
      net_device: "virtio-net",
      accelerator: "auto",
      host_port_min: 2222,
      host_port_max: 4444,
      qemu_binary: "qemu-system-x86_64",
      headless: true,
      boot_command_method: "qmp",
      boot_wait: "10s",
      shutdown_timeout: "5m",
      communicator: "ssh",
      ssh_port: 22,
    });
    for (const k of [
      "machine_type",
      "display",
      "vm_name",
      "vnc_port_min",
      "vnc_port_max",
      "vnc_bind_address",
    ])
      expect(o[k as keyof QemuOptions], k).toBeUndefined();
    expect(String(qemuSchema.properties.memory.description)).toContain("Default: 512.");
  });
});

describe("computed defaults", () => {
  it("machine type: pc, q35 with efi_boot, machine_type wins", () => {
    expect(machineType(opts())).toBe("pc");
    expect(machineType(opts({ efi_boot: true }))).toBe("q35");
    expect(machineType(opts({ efi_boot: true, machine_type: "pc-q35-8.2" }))).toBe("pc-q35-8.2");
  });

  it("display: none headless (display ignored, as Packer), gtk or display with headless: false, none at all with use_default_display", () => {
    expect(displayOf(opts())).toBe("none");
    expect(displayOf(opts({ headless: false }))).toBe("gtk");
    expect(displayOf(opts({ headless: false, display: "sdl" }))).toBe("sdl");
    expect(displayOf(opts({ display: "vnc=:3" }))).toBe("none");
    expect(displayOf(opts({ headless: false, use_default_display: true }))).toBeUndefined();
  });

  it("vm name, HTTP address, port forwarding, serial file, user QMP, VNC range", () => {
    // Packer's default: packer-<source name>, no extension (templates point qemuargs -drive at it)
    expect(vmName(opts(), ctx)).toBe("packer-src");
    expect(vmName(opts({ format: "raw" }), ctx)).toBe("packer-src");
    expect(vmName(opts({ vm_name: "disk.img" }), ctx)).toBe("disk.img");
    expect(httpGuestIp(opts(), "192.168.1.5")).toBe("10.0.2.2");
    expect(httpGuestIp(opts({ net_bridge: "br0" }), "192.168.1.5")).toBe("192.168.1.5");
    expect(httpGuestIp(opts({ http_host: "h.example" }), "192.168.1.5")).toBe("h.example");
    expect(forwardsSshPort(opts())).toBe(true);
    expect(forwardsSshPort(opts({ net_bridge: "br0" }))).toBe(false);
    expect(forwardsSshPort(opts({ skip_nat_mapping: true }))).toBe(false);
    expect(forwardsSshPort(opts({ communicator: "none" }))).toBe(false);
    expect(
      userSerialFile(
        opts({
          qemuargs: [
            ["-m", "1G"],
            ["-serial", "file:s.log"],
          ],
        }),
      ),
    ).toBe("s.log");
    expect(userSerialFile(opts({ qemuargs: [["-serial", "stdio"]] }))).toBeUndefined();
    expect(wantsUserQmp(opts())).toBe(false);
    expect(wantsUserQmp(opts({ qmp_enable: true }))).toBe(true);
    expect(wantsUserQmp(opts({ qmp_socket_path: "q.sock" }))).toBe(true);
    expect(vncRange(opts())).toEqual({ bind: "127.0.0.1", min: 5900, max: 6000 });
    expect(vncRange(opts({ vnc_bind_address: "[::1]", vnc_port_min: 5990 }))).toEqual({
      bind: "::1",
      min: 5990,
      max: 6000,
    });
  });
});

describe("vmConfig", () => {
  const facts = {
    name: "src.qcow2",
    accel: "tcg" as const,
    disks: [{ path: "/o/src.qcow2.work", format: "qcow2" }],
    source: "/cache/x.iso",
    qmpSocket: "/t/qmp.sock",
    serialLog: "/t/serial.log",
    baseDir: "/builds",
  };

  it("an ISO install with the defaults: Packer's machine, the ISO as CD-ROM, booted once", () => {
    const c = vmConfig(opts(), { ...facts, hostPort: 3333 });
    expect(c).toMatchObject({
      machineType: "pc",
      memoryMiB: 512,
      cpus: 1,
      diskInterface: "virtio",
      installIso: "/cache/x.iso",
      bootFromCd: true,
      net: { kind: "user", hostPort: 3333, guestPort: 22 },
      netDevice: "virtio-net",
      display: "none",
    });
    expect(c.userQmpSocket).toBeUndefined();
    expect(get(defaultArgs(c), "-qmp")).toEqual(["unix:/t/qmp.sock,server=on,wait=off"]);
  });

  it("a disk image on a bridge, with firmware relative to the build file and a QMP socket for the user", () => {
    const c = vmConfig(opts({ disk_image: true, net_bridge: "br0", firmware: "fw/bios.bin", cpus: 2 }), {
      ...facts,
      userQmpSocket: "/builds/mine.sock",
    });
    expect(c.installIso).toBeUndefined();
    expect(c.bootFromCd).toBe(false);
    expect(c.net).toEqual({ kind: "bridge", bridge: "br0" });
    expect(c.firmware).toBe("/builds/fw/bios.bin");
    expect(c.cpus).toBe(2);
    expect(get(defaultArgs(c), "-qmp")).toEqual([
      "unix:/t/qmp.sock,server=on,wait=off",
      "unix:/builds/mine.sock,server=on,wait=off",
    ]);
  });
});

describe("qemu-img progress", () => {
  it("reads the last percentage of a chunk", () => {
    expect(lastPercent("    (0.00/100%)\r    (12.50/100%)\r")).toBe(12.5);
    expect(lastPercent("    (100/100%)")).toBe(100);
    expect(lastPercent("no progress here")).toBeUndefined();
  });
});
