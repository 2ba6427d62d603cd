import { applyDefaults, createRunContext, EventBus, formatBytes } from "@kiln/core";
import { describe, expect, it } from "vitest";
import { defaultArgs, flattenArgs, formatCommand, mergeQemuArgs, type VmConfig } from "./args.js";
import { qemuBuilder } from "./builder.js";
import { wantsVncServer } from "./defaults.js";
import { findOvmf } from "./efi.js";
import { type QemuOptions, qemuSchema } from "./schema.js";
import { parseSize } from "./size.js";
import { VNC } from "./state.js";
import { portStep } from "./steps/port.js";

/** Options as a build file gives them; the engine fills in the schema's defaults. */
type QemuInput = Partial<QemuOptions> & { iso_url: string };
const withDefaults = (o: QemuInput): QemuOptions => applyDefaults(qemuSchema, o) as QemuOptions;

const base: VmConfig = {
  name: "img.qcow2",
  machineType: "pc",
  accel: "tcg",
  memoryMiB: 512,
  cpus: 1,
  disks: [{ path: "/out/img.work", format: "qcow2" }],
  diskInterface: "virtio",
  diskCache: "writeback",
  diskDiscard: "ignore",
  diskDetectZeroes: "off",
  installIso: "/cache/installer.iso",
  bootFromCd: true,
  net: { kind: "user", hostPort: 3022, guestPort: 22 },
  netDevice: "virtio-net",
  qmpSocket: "/tmp/k/qmp.sock",
  serialLog: "/tmp/k/serial.log",
  display: "none",
};

const baseConfig = base;
const get = (entries: string[][], sw: string) => entries.filter((e) => e[0] === sw).map((e) => e[1]);

describe("defaultArgs", () => {
  it("builds Packer's command line for an ISO install", () => {
    const a = defaultArgs(base);
    expect(get(a, "-machine")).toEqual(["type=pc,accel=tcg"]);
    expect(get(a, "-m")).toEqual(["512M"]);
    expect(get(a, "-drive")).toEqual([
      "file=/out/img.work,if=virtio,format=qcow2,cache=writeback,discard=ignore,detect-zeroes=off",
      "file=/cache/installer.iso,media=cdrom,if=ide,index=2,format=raw,readonly=on",
    ]);
    expect(get(a, "-boot")).toEqual(["once=d"]);
    expect(get(a, "-netdev")).toEqual(["user,id=user.0,hostfwd=tcp:127.0.0.1:3022-:22"]);
    expect(get(a, "-device")).toEqual(["virtio-net,netdev=user.0"]);
    expect(get(a, "-qmp")).toEqual(["unix:/tmp/k/qmp.sock,server=on,wait=off"]);
    expect(get(a, "-serial")).toEqual(["file:/tmp/k/serial.log"]);
    expect(get(a, "-display")).toEqual(["none"]);
    expect(get(a, "-vnc")).toEqual([]);
  });

  it("attaches a cd_files CD as a second IDE CD-ROM and boots a disk image from the disk", () => {
    const { installIso: _i, ...rest } = base;
    const a = defaultArgs({ ...rest, cdIso: "/tmp/cd.iso", bootFromCd: false });
    expect(get(a, "-drive")[1]).toBe("file=/tmp/cd.iso,media=cdrom,if=ide,index=2,format=raw,readonly=on");
    expect(get(a, "-boot")).toEqual(["c"]);
  });

  it("escapes commas in paths, supports virtio-scsi, EFI and bridges", () => {
    const a = defaultArgs({
      ...base,
      disks: [{ path: "/o/a,b.img", format: "raw" }],
      diskInterface: "virtio-scsi",
      efi: { code: "/usr/share/OVMF/OVMF_CODE_4M.fd", vars: "/o/efivars.fd" },
      net: { kind: "bridge", bridge: "br0" },
      vnc: "127.0.0.1:3",
    });
    expect(get(a, "-device")).toContain("scsi-hd,bus=scsi0.0,drive=drive0");
    expect(get(a, "-drive")[0]).toBe(
      "if=none,file=/o/a,,b.img,id=drive0,format=raw,cache=writeback,discard=ignore,detect-zeroes=off",
    );
    expect(get(a, "-drive")).toContain(
      "if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd",
    );
    expect(get(a, "-netdev")).toEqual(["bridge,id=user.0,br=br0"]);
    expect(get(a, "-vnc")).toEqual(["127.0.0.1:3"]);
  });
});

describe("mergeQemuArgs (Packer's qemuargs)", () => {
  it("replaces every kiln entry of a switch the user gives, keeps the rest, appends the user's", () => {
    const merged = mergeQemuArgs(defaultArgs(base), [
      ["-m", "2048M"],
      ["-device", "e1000,netdev=user.0"],
      ["-device", "virtio-rng-pci"],
      ["-nographic"],
    ]);
    expect(get(merged, "-m")).toEqual(["2048M"]);
    expect(get(merged, "-device")).toEqual(["e1000,netdev=user.0", "virtio-rng-pci"]);
    expect(get(merged, "-netdev")).toHaveLength(1);
    expect(merged.at(-1)).toEqual(["-nographic"]);
    expect(flattenArgs([["-a", "1"], ["-b"]])).toEqual(["-a", "1", "-b"]);
  });

  it("is the identity without qemuargs", () => {
    const d = defaultArgs(base);
    expect(mergeQemuArgs(d, undefined)).toBe(d);
    expect(mergeQemuArgs(d, [])).toBe(d);
  });

  it("formats a command line for the log", () => {
    expect(formatCommand("qemu", ["-name", "a b", "-m", "1M"])).toBe("qemu -name 'a b' -m 1M");
  });
});

describe("sizes and firmware", () => {
  it("parses disk sizes like Packer (numbers are MiB)", () => {
    expect(parseSize(40960)).toBe(40960 * 1024 ** 2);
    expect(parseSize("256M")).toBe(256 * 1024 ** 2);
    expect(parseSize("10G")).toBe(10 * 1024 ** 3);
    expect(parseSize("1.5GiB")).toBe(1.5 * 1024 ** 3);
    expect(parseSize("512")).toBe(512 * 1024 ** 2);
    expect(() => parseSize("ten gigs")).toThrow(/invalid size/);
    expect(formatBytes(3 * 1024 ** 3)).toBe("3 GiB");
  });

  it("finds OVMF at Debian/Ubuntu paths, 4M variants first", () => {
    const have = new Set([
      "/usr/share/OVMF/OVMF_CODE_4M.fd",
      "/usr/share/OVMF/OVMF_VARS_4M.fd",
      "/usr/share/OVMF/OVMF_CODE.fd",
      "/usr/share/OVMF/OVMF_VARS.fd",
    ]);
    expect(findOvmf(undefined, undefined, (p) => have.has(p))).toEqual({
      code: "/usr/share/OVMF/OVMF_CODE_4M.fd",
      vars: "/usr/share/OVMF/OVMF_VARS_4M.fd",
    });
    expect(findOvmf(undefined, undefined, () => false)).toBeUndefined();
    expect(findOvmf("/x/code.fd", "/x/vars.fd", () => false)).toEqual({
      code: "/x/code.fd",
      vars: "/x/vars.fd",
    });
  });
});

describe("the VNC server (-vnc) and its options", () => {
  const base: QemuInput = { iso_url: "x.iso" };

  async function vncOf(o: QemuInput) {
    const says: string[] = [];
    const secrets: string[] = [];
    const bus = new EventBus();
    const { ctx, dispose } = createRunContext({
      run: { name: "b.qemu.s", build: "b", source: "s", type: "qemu", runUuid: "u" },
      ui: { ...bus.ui("b.qemu.s"), say: (t: string) => says.push(t), message: () => {} },
      baseDir: "/",
      secret: (s: string) => secrets.push(s),
    });
    await portStep(withDefaults({ ...o, communicator: "none" })).run(ctx);
    await dispose();
    const vnc = ctx.state.get(VNC);
    const args = defaultArgs({ ...baseConfig, ...(vnc ? { vnc: vnc.arg } : {}) });
    return { vnc: get(args, "-vnc"), address: vnc?.address, says: says.join("\n"), secrets };
  }

  it("opens no VNC server without boot_command_method: vnc or a vnc_* option", async () => {
    const r = await vncOf(base);
    expect(r.vnc).toEqual([]);
    expect(r.address).toBeUndefined();
    expect(wantsVncServer({ ...base, vnc_use_password: false })).toBe(false);
  });

  it("types over VNC with boot_command_method: vnc, on 127.0.0.1 by default", async () => {
    const r = await vncOf({ ...base, boot_command_method: "vnc" });
    const display = Number(r.vnc[0]?.replace(/^127\.0\.0\.1:/, ""));
    expect(display).toBeGreaterThanOrEqual(0);
    expect(display).toBeLessThanOrEqual(100);
    expect(r.address).toEqual({ host: "127.0.0.1", port: 5900 + display });
    expect(r.says).not.toMatch(/QMP/);
  });

  it("honours vnc_use_password, vnc_bind_address and the port range with the qmp method too, and says typing stays on QMP", async () => {
    const r = await vncOf({
      ...base,
      boot_command_method: "qmp",
      vnc_use_password: true,
      vnc_bind_address: "0.0.0.0",
      vnc_port_min: 5990,
      vnc_port_max: 5999,
    });
    expect(r.vnc).toHaveLength(1);
    expect(r.vnc[0]).toMatch(/^0\.0\.0\.0:9\d,password=on$/);
    const port = 5900 + Number(/:(\d+),/.exec(r.vnc[0] ?? "")?.[1]);
    expect(r.address?.host).toBe("127.0.0.1");
    expect(r.address?.port).toBe(port);
    expect(r.address?.password).toHaveLength(8);
    expect(r.secrets).toEqual([r.address?.password]);
    expect(r.says).toContain(`vnc://0.0.0.0:${port} (with a random password), to watch the guest`);
    expect(r.says).toContain("still typed through QMP");

    // Each option alone asks for the server.
    for (const o of [
      { vnc_use_password: true },
      { vnc_bind_address: "127.0.0.1" },
      { vnc_port_min: 5990 },
      { vnc_port_max: 5999 },
    ]) {
      expect((await vncOf({ ...base, ...o })).vnc, JSON.stringify(o)).toHaveLength(1);
    }
    // A range of one port: display 97, or (when something else holds 5997) a clear error.
    const pinned = await vncOf({ ...base, vnc_port_min: 5997, vnc_port_max: 5997 }).catch(
      (e: unknown) => e as Error,
    );
    if (pinned instanceof Error)
      expect(pinned.message).toMatch(/no free VNC port in 5997–5997 on 127\.0\.0\.1/);
    else expect(pinned.vnc).toEqual(["127.0.0.1:97"]);
  });

  it("puts an IPv6 bind address in brackets for QEMU", async () => {
    const r = await vncOf({ ...base, vnc_bind_address: "::1", vnc_port_min: 5990, vnc_port_max: 5999 }).catch(
      (e: unknown) => e as Error,
    );
    if (r instanceof Error) {
      expect(r.message).toMatch(/no free VNC port in 5990–5999 on ::1/); // a host without IPv6
      return;
    }
    expect(r.vnc[0]).toMatch(/^\[::1\]:9\d$/);
    expect(r.address?.host).toBe("::1");
  });

  it("check() refuses vnc_port_min > vnc_port_max, defaults included", async () => {
    const check = async (o: QemuInput) =>
      (
        await (qemuBuilder.check?.(withDefaults({ ...o, iso_url: "https://example.invalid/x.iso" }), {
          baseDir: "/",
          type: "qemu",
          env: {},
        }) ?? [])
      ).map((p) => `${p.option?.join(".")}: ${p.message}`);
    expect(await check({ ...base, vnc_port_min: 5910, vnc_port_max: 5905 })).toEqual([
      "vnc_port_min: vnc_port_min (5910) is greater than vnc_port_max (5905)",
    ]);
    expect((await check({ ...base, vnc_port_min: 6100 }))[0]).toMatch(
      /vnc_port_min \(6100\) is greater than vnc_port_max \(6000, the default\)/,
    );
    expect((await check({ ...base, vnc_port_max: 5800 }))[0]).toMatch(
      /^vnc_port_max: .*vnc_port_max \(5800\)/,
    );
    expect(await check({ ...base, vnc_port_min: 5905, vnc_port_max: 5905 })).toEqual([]);
    expect(await check({ ...base, vnc_port_min: 6100, vnc_port_max: 6200 })).toEqual([]);
  });
});
