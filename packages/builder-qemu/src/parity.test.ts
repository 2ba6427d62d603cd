/** The options Packer templates use, with Packer's meanings: QEMU arguments and checks. */
import { applyDefaults } from "@kiln/core";
import { describe, expect, it } from "vitest";
import { acceleratorMissing } from "./accel.js";
import { defaultArgs, type VmConfig } from "./args.js";
import { qemuCheck } from "./check.js";
import { wantsVncServer } from "./defaults.js";
import { type QemuOptions, qemuSchema } from "./schema.js";
import { vmConfig } from "./vm-config.js";

const opts = (o: Partial<QemuOptions>): QemuOptions =>
  applyDefaults(qemuSchema, { iso_url: "https://example.invalid/x.iso", ...o }) as QemuOptions;
const facts = {
  name: "packer-u",
  accel: "tcg" as const,
  disks: [{ path: "/o/packer-u.work", format: "qcow2" }],
  source: "/c/x.iso",
  qmpSocket: "/t/q.sock",
  serialLog: "/t/s.log",
  baseDir: "/b",
};
const args = (o: Partial<QemuOptions>, extra: Partial<VmConfig> = {}) =>
  defaultArgs({ ...vmConfig(opts(o), facts), ...extra }).map((e) => e.join(" "));
const problems = (o: Partial<QemuOptions>) =>
  qemuCheck(opts(o), { baseDir: "/", type: "qemu", env: {} }).map(
    (p) => `${p.severity ?? "error"} ${p.option?.join(".")}: ${p.message} ${p.hint ?? ""}`,
  );

describe("qemu options from Packer", () => {
  it("cdrom_interface puts the ISO on IDE (default), SCSI, virtio or a virtio-scsi controller", () => {
    expect(args({}).find((a) => a.includes("media=cdrom"))).toMatch(/if=ide,index=2/);
    expect(args({ cdrom_interface: "scsi" }).find((a) => a.includes("media=cdrom"))).toMatch(/if=scsi/);
    expect(args({ cdrom_interface: "virtio" }).find((a) => a.includes("media=cdrom"))).toMatch(/if=virtio/);
    const vs = args({ cdrom_interface: "virtio-scsi", disk_interface: "virtio-scsi" });
    expect(vs.filter((a) => a === "-device virtio-scsi-pci,id=scsi0")).toHaveLength(1);
    expect(vs).toContain("-device scsi-cd,bus=scsi0.0,drive=cdrom0");
    expect(vs.find((a) => a.includes("id=cdrom0"))).toMatch(/if=none,id=cdrom0,file=\/c\/x\.iso,media=cdrom/);
  });

  it("disk_interface sd, vga, use_pflash, use_default_display, display ignored when headless", () => {
    expect(args({ disk_interface: "sd" }).find((a) => a.includes("packer-u.work"))).toMatch(/if=sd/);
    expect(args({ vga: "virtio" })).toContain("-vga virtio");
    expect(args({ firmware: "u-boot.bin", use_pflash: true })).toContain(
      "-drive if=pflash,format=raw,readonly=on,file=/b/u-boot.bin",
    );
    expect(args({ firmware: "u-boot.bin" })).toContain("-bios /b/u-boot.bin");
    expect(args({ headless: false, use_default_display: true }).some((a) => a.startsWith("-display"))).toBe(
      false,
    );
    expect(args({ display: "gtk" })).toContain("-display none");
    expect(args({ headless: false, display: "sdl" })).toContain("-display sdl");
    expect(args({ net_device: "usb-net" })).toContain("-device usb-net,netdev=user.0");
  });

  it("vnc_password asks for a VNC server; disable_vnc refuses one", () => {
    expect(wantsVncServer(opts({ vnc_password: "s3cret" }))).toBe(true);
    expect(wantsVncServer(opts({ vnc_password: "s3cret", disable_vnc: true }))).toBe(false);
    expect(problems({ disable_vnc: true, boot_command_method: "vnc" })[0]).toMatch(/^error disable_vnc:/);
    expect(problems({ vnc_password: "much-too-long" })[0]).toMatch(/^error vnc_password: .*at most 8/);
  });

  it("iso_checksum_url / iso_checksum_type: removed, with the iso_checksum rewrite", () => {
    expect(problems({ iso_checksum_url: "https://x/SHA256SUMS" })).toEqual([
      'error iso_checksum_url: iso_checksum_url was removed (also in Packer) Write iso_checksum: "file:https://x/SHA256SUMS".',
    ]);
    expect(problems({ iso_checksum_type: "sha256", iso_checksum: "abc123" })).toEqual([
      'error iso_checksum_type: iso_checksum_type was removed (also in Packer) Write iso_checksum: "sha256:abc123".',
    ]);
  });

  it("iso_urls without iso_url is enough (the schema no longer requires iso_url)", () => {
    expect(problems({ iso_url: undefined, iso_urls: ["https://a/x.iso", "https://b/x.iso"] })).toEqual([]);
    expect(problems({ iso_url: undefined })[0]).toMatch(
      /^error iso_url: iso_url \(or iso_urls\) is required/,
    );
  });

  it("hvf, whpx, xen and hax are valid; where the host has not got them, a clear error", () => {
    expect(acceleratorMissing("hvf", "linux")).toMatch(/only on macOS/);
    expect(acceleratorMissing("hvf", "darwin")).toBeUndefined();
    expect(acceleratorMissing("whpx", "linux")).toMatch(/only on Windows/);
    expect(acceleratorMissing("hax", "win32")).toBeUndefined();
    expect(acceleratorMissing("kvm", "linux")).toBeUndefined();
    if (process.platform === "linux")
      expect(problems({ accelerator: "hvf" })[0]).toMatch(/^warning accelerator: accelerator hvf/);
  });
});
