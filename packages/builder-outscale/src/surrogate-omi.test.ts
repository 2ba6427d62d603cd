/** outscale-bsusurrogate's OMI mappings and prepare checks (pure). */
import { describe, expect, it } from "vitest";
import { checkBsusurrogate, checkBsuvolume } from "./checks.js";
import type { BsusurrogateOptions, BsuvolumeOptions } from "./schema.js";
import { snapshotted, surrogateImage } from "./surrogate-omi.js";

const ui = { say() {}, message() {}, error() {} } as never;
const base = {
  vm_type: "tinav5.c1r1p2",
  source_omi: "ami-12345678",
  communicator: "none",
  temporary_security_group_source_cidr: "0.0.0.0/0",
  shutdown_behavior: "stop",
  vm_ready_timeout: "10m",
  image_timeout: "60m",
  windows_password_timeout: "20m",
  ssh_port: 22,
} as const;
const surrogate = (extra: Partial<BsusurrogateOptions> = {}): BsusurrogateOptions =>
  ({
    ...base,
    omi_name: "built",
    launch_block_device_mappings: [
      { device_name: "/dev/sda1", volume_size: 8 },
      { device_name: "/dev/xvdf", volume_size: 2, volume_type: "gp2" },
      { device_name: "/dev/xvdg", volume_size: 5, delete_on_vm_deletion: true },
    ],
    omi_root_device: {
      source_device_name: "/dev/xvdf",
      device_name: "/dev/sda1",
      volume_size: 4,
      volume_type: "io1",
      iops: 300,
      delete_on_vm_deletion: true,
    },
    ...extra,
  }) as BsusurrogateOptions;

describe("the surrogate's OMI", () => {
  it("snapshots the launch volumes but the surrogate's own root", () => {
    expect(snapshotted(surrogate()).map((b) => b.device_name)).toEqual(["/dev/xvdf", "/dev/xvdg"]);
  });
  it("makes the source volume the root with omi_root_device's size, type, iops and deletion", () => {
    const img = surrogateImage(surrogate(), { "/dev/xvdf": "snap-1", "/dev/xvdg": "snap-2" });
    expect(img).toEqual({
      RootDeviceName: "/dev/sda1",
      BlockDeviceMappings: [
        {
          DeviceName: "/dev/sda1",
          Bsu: {
            SnapshotId: "snap-1",
            VolumeSize: 4,
            VolumeType: "io1",
            Iops: 300,
            DeleteOnVmDeletion: true,
          },
        },
        { DeviceName: "/dev/xvdg", Bsu: { SnapshotId: "snap-2", VolumeSize: 5, DeleteOnVmDeletion: true } },
      ],
    });
    expect(JSON.stringify(img)).not.toMatch(/Architecture/);
  });
  it("adds omi_block_device_mappings as they are", () => {
    const img = surrogateImage(
      surrogate({ omi_block_device_mappings: [{ device_name: "/dev/xvdz", volume_size: 3 }] }),
      { "/dev/xvdf": "snap-1", "/dev/xvdg": "snap-2" },
    );
    expect(img.BlockDeviceMappings.at(-1)).toEqual({
      DeviceName: "/dev/xvdz",
      Bsu: { VolumeSize: 3, DeleteOnVmDeletion: false },
    });
  });
  it("a missing snapshot is an error, not an OMI without its volume", () => {
    expect(() => surrogateImage(surrogate(), { "/dev/xvdf": "snap-1" })).toThrow(
      /no snapshot of \/dev\/xvdg/,
    );
  });
});

describe("prepare checks", () => {
  it("omi_root_device must name a launch mapping", () => {
    expect(() =>
      checkBsusurrogate(
        surrogate({ omi_root_device: { source_device_name: "/dev/xvdq", device_name: "/dev/sda1" } }),
        ui,
      ),
    ).toThrow(/source_device_name \/dev\/xvdq is not one of launch_block_device_mappings/);
  });
  it("omi_root_device's iops only with io1, and no smaller than its volume", () => {
    expect(() =>
      checkBsusurrogate(
        surrogate({
          omi_root_device: { source_device_name: "/dev/xvdf", device_name: "/dev/sda1", iops: 100 },
        }),
        ui,
      ),
    ).toThrow(/iops is for io1/);
    expect(() =>
      checkBsusurrogate(
        surrogate({
          omi_root_device: { source_device_name: "/dev/xvdf", device_name: "/dev/sda1", volume_size: 1 },
        }),
        ui,
      ),
    ).toThrow(/smaller than its launch volume/);
  });
  it("a good surrogate passes", () => {
    expect(() => checkBsusurrogate(surrogate(), ui)).not.toThrow();
  });
  const vol = (extra: Partial<BsuvolumeOptions>): BsuvolumeOptions =>
    ({ ...base, ...extra }) as BsuvolumeOptions;
  it("bsuvolume needs volumes it can keep", () => {
    expect(() => checkBsuvolume(vol({}), ui)).toThrow(/bsu_volumes is empty/);
    expect(() =>
      checkBsuvolume(
        vol({ bsu_volumes: [{ device_name: "/dev/xvdf", volume_size: 1, delete_on_vm_deletion: true }] }),
        ui,
      ),
    ).toThrow(/delete_on_vm_deletion: true deletes the volume/);
    expect(() =>
      checkBsuvolume(
        vol({
          bsu_volumes: [
            { device_name: "/dev/xvdf", volume_size: 1 },
            { device_name: "/dev/xvdf", volume_size: 2 },
          ],
        }),
        ui,
      ),
    ).toThrow(/\/dev\/xvdf is mapped twice/);
    expect(() =>
      checkBsuvolume(vol({ bsu_volumes: [{ device_name: "/dev/xvdf", volume_size: 1 }] }), ui),
    ).not.toThrow();
  });
});
