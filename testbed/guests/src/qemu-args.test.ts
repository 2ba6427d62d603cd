import { describe, expect, test } from "vitest";
import {
  diskDevice,
  driveArg,
  macFor,
  placeDisks,
  qemuArgs,
  qemuOpt,
  type ResolvedDisk,
} from "./qemu-args.js";

const paths = { qmp: "/r/g.qmp", console: "/r/g.console.log", agent: "/r/g.qga" };
const net = {
  address: "127.0.0.7",
  forwards: [
    { guest: 22, host: 22 },
    { guest: 80, host: 40123 },
  ],
};

describe("placeDisks", () => {
  test("ids, default buses and next free units; explicit units kept", () => {
    const d = placeDisks({
      disks: [
        { file: "/a.qcow2" },
        { file: "/b.qcow2", bus: "scsi", unit: 0 },
        { file: "/c.qcow2", bus: "scsi" },
        { media: "cdrom" },
        { media: "cdrom", unit: 0, id: "cd0" },
      ],
    });
    expect(d.map((x) => [x.id, x.bus, x.unit])).toEqual([
      ["disk0", "virtio", 0],
      ["disk1", "scsi", 0],
      ["disk2", "scsi", 1],
      ["disk3", "ide", 1],
      ["cd0", "ide", 0],
    ]);
  });
  test("q35 puts CD-ROMs on SCSI; bad layouts are refused", () => {
    expect(placeDisks({ machine: "q35", disks: [{ media: "cdrom" }] })[0]?.bus).toBe("scsi");
    expect(() =>
      placeDisks({
        disks: [
          { file: "/a", unit: 1 },
          { file: "/b", unit: 1 },
        ],
      }),
    ).toThrow(/virtio unit 1 is taken/);
    expect(() => placeDisks({ disks: [{ media: "cdrom", bus: "virtio" }] })).toThrow(/cannot be on virtio/);
    expect(() => placeDisks({ disks: [{}] })).toThrow(/needs a file/);
    expect(() =>
      placeDisks({
        disks: [
          { file: "/a", id: "x" },
          { file: "/b", id: "x" },
        ],
      }),
    ).toThrow(/two disks/);
  });
});

describe("devices", () => {
  const disk = (o: Partial<ResolvedDisk>): ResolvedDisk => ({
    id: "d",
    media: "disk",
    bus: "virtio",
    unit: 0,
    format: "qcow2",
    path: "/x,y.qcow2",
    ...o,
  });
  test("drives escape commas; CD-ROMs read-only; empty CD-ROMs have no file", () => {
    expect(qemuOpt("a,b")).toBe("a,,b");
    expect(driveArg(disk({}))).toBe("file=/x,,y.qcow2,format=qcow2,if=none,id=drive-d");
    expect(driveArg(disk({ media: "cdrom", format: "raw", path: "/s.iso" }))).toBe(
      "file=/s.iso,format=raw,if=none,id=drive-d,media=cdrom,readonly=on",
    );
    expect(driveArg(disk({ media: "cdrom", path: undefined }))).toBe("if=none,id=drive-d,media=cdrom");
  });
  test("one device per bus", () => {
    expect(diskDevice(disk({ bootIndex: 1, serial: "s1" }))).toBe(
      "virtio-blk-pci,drive=drive-d,id=d,serial=s1,bootindex=1",
    );
    expect(diskDevice(disk({ bus: "scsi", unit: 3 }))).toBe(
      "scsi-hd,bus=scsihw0.0,scsi-id=3,drive=drive-d,id=d",
    );
    expect(diskDevice(disk({ bus: "sata", unit: 2, media: "cdrom" }))).toBe(
      "ide-cd,bus=ahci0.2,drive=drive-d,id=d",
    );
    expect(diskDevice(disk({ bus: "ide", unit: 3 }))).toBe("ide-hd,bus=ide.1,unit=1,drive=drive-d,id=d");
  });
  test("MACs are stable per address and NIC", () => {
    expect(macFor("127.0.0.7")).toBe("52:54:00:00:00:07");
    expect(macFor("127.0.0.7", 1)).toBe("52:54:00:40:00:07");
    expect(macFor("198.18.3.7")).toBe("52:54:00:12:03:07");
    expect(macFor("198.19.3.7")).toBe("52:54:00:13:03:07");
    expect(macFor("198.18.3.7", 1)).toBe("52:54:00:52:03:07");
    // unique per (address, NIC < 4) over both pools' addresses
    const macs = new Set<string>();
    for (const a of ["127.0.0.7", "198.18.0.7", "198.19.0.7", "198.18.64.7"])
      for (let nic = 0; nic < 4; nic++) macs.add(macFor(a, nic));
    expect(macs.size).toBe(16);
  });
});

describe("qemuArgs", () => {
  const disks: ResolvedDisk[] = [
    { id: "disk0", media: "disk", bus: "virtio", unit: 0, format: "qcow2", path: "/o.qcow2", bootIndex: 1 },
    { id: "disk1", media: "disk", bus: "scsi", unit: 0, format: "raw", path: "/v.raw" },
  ];
  const a = qemuArgs({ name: "web1", memoryMiB: 768, cpus: 2 }, disks, paths, net);
  const opt = (flag: string) => a.flatMap((x, i) => (a[i - 1] === flag ? [x] : []));
  test("TCG, no defaults, console to a file, QMP socket", () => {
    expect(opt("-accel")).toEqual(["tcg"]);
    expect(a).toContain("-nodefaults");
    expect(opt("-m")).toEqual(["768"]);
    expect(opt("-smp")).toEqual(["2"]);
    expect(opt("-serial")).toEqual(["file:/r/g.console.log"]);
    expect(opt("-qmp")).toEqual(["unix:/r/g.qmp,server=on,wait=off"]);
  });
  test("forwards live on the guest's own address; no IPv6 in the user network", () => {
    expect(opt("-netdev")).toEqual([
      "user,id=net0,ipv6=off,hostfwd=tcp:127.0.0.7:22-:22,hostfwd=tcp:127.0.0.7:40123-:80",
    ]);
    expect(opt("-device")).toContain("virtio-net-pci,netdev=net0,mac=52:54:00:00:00:07");
  });
  test("disks with their controller, the agent channel", () => {
    const dev = opt("-device");
    expect(dev).toContain("virtio-scsi-pci,id=scsihw0");
    expect(dev).toContain("virtio-blk-pci,drive=drive-disk0,id=disk0,bootindex=1");
    expect(dev).toContain("virtserialport,bus=vser0.0,chardev=qga0,name=org.qemu.guest_agent.0");
    expect(opt("-chardev")).toEqual(["socket,id=qga0,path=/r/g.qga,server=on,wait=off"]);
  });
  test("no agent path, no channel; no NICs, no network; q35 gets hot-plug ports", () => {
    const b = qemuArgs(
      { name: "x", nics: [], machine: "q35" },
      [],
      { qmp: "/q", console: "/c" },
      { address: "127.0.0.9", forwards: [] },
    );
    expect(b.join(" ")).not.toMatch(/virtserialport|netdev/);
    expect(b.filter((x) => x.startsWith("pcie-root-port"))).toHaveLength(4);
  });
});
