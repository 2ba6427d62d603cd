/** outscale-chroot's pure parts: the OMI's mappings, the free device name, the prepare checks. */
import { rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { buildFile, ensureDist, makeScratch } from "@kiln/sdk/testing";
import { describe, expect, it } from "vitest";
import { checkChroot } from "./checks.js";
import { chrootImage } from "./chroot-omi.js";
import type { ChrootBuilderOptions } from "./schema.js";
import { candidateNodes, freeDevice } from "./steps/chroot-volume.js";

const ui = { say() {}, message() {}, error() {} } as never;
const o = (extra: Partial<ChrootBuilderOptions>): ChrootBuilderOptions =>
  ({
    omi_name: "x-omi",
    metadata_endpoint: "http://169.254.169.254",
    device_timeout: "2m",
    volume_ready_timeout: "5m",
    image_timeout: "60m",
    mount_partition: "1",
    ...extra,
  }) as ChrootBuilderOptions;

describe("outscale-chroot", () => {
  it("the snapshot is the OMI's root; other mappings follow, the root's not twice", () => {
    expect(
      chrootImage(
        {
          root_device_name: "/dev/sda1",
          root_volume_type: "gp2",
          omi_block_device_mappings: [
            { device_name: "/dev/sda1", volume_size: 9 },
            { device_name: "/dev/xvdb", volume_size: 4 },
          ],
        },
        "snap-1",
      ),
    ).toEqual({
      RootDeviceName: "/dev/sda1",
      BlockDeviceMappings: [
        {
          DeviceName: "/dev/sda1",
          Bsu: { SnapshotId: "snap-1", DeleteOnVmDeletion: true, VolumeType: "gp2" },
        },
        { DeviceName: "/dev/xvdb", Bsu: { VolumeSize: 4, DeleteOnVmDeletion: false } },
      ],
    });
  });
  it("picks the first device name none of whose nodes (xvd, sd, vd) exists", () => {
    expect(candidateNodes("/dev/xvdg")).toEqual(["/dev/xvdg", "/dev/sdg", "/dev/vdg"]);
    const taken = new Set(["/dev/xvdf", "/dev/vdg"]);
    expect(freeDevice((p) => taken.has(p))).toBe("/dev/xvdh");
    expect(() => freeDevice(() => true)).toThrow(/no free device name/);
  });
  it("prepare: a source, or from_scratch with a size and formatting commands", () => {
    expect(() => checkChroot(o({}), ui)).toThrow(/set source_omi or source_omi_filter/);
    expect(() => checkChroot(o({ source_omi: "ami-1" }), ui)).not.toThrow();
    expect(() => checkChroot(o({ from_scratch: true }), ui)).toThrow(/from_scratch needs root_volume_size/);
    expect(() => checkChroot(o({ from_scratch: true, root_volume_size: 2 }), ui)).toThrow(
      /from_scratch needs pre_mount_commands/,
    );
    expect(() =>
      checkChroot(o({ from_scratch: true, root_volume_size: 2, source_omi: "ami-1" }), ui),
    ).toThrow(/drop source_omi/);
    expect(() => checkChroot(o({ source_omi: "ami-1", root_volume_type: "io1" }), ui)).toThrow(
      /io1 needs iops/,
    );
  });
});

describe("outscale-chroot prepare, through the engine", () => {
  it("Packer's {{ .Device }} is refused with the kiln spelling, before any API call", async () => {
    const pkg = fileURLToPath(new URL("..", import.meta.url));
    ensureDist(pkg);
    const dir = makeScratch(pkg, "chroot-prepare");
    try {
      const r = await buildFile(
        dir,
        "c.yaml",
        `kiln: 1
sources:
  c:
    type: outscale-chroot
    access_key: AKEXAMPLE
    secret_key: not-used
    custom_endpoint_oapi: https://127.0.0.1:9/api/v1
    source_omi: ami-12345678
    omi_name: prep-test
    mount_path: "/mnt/{{ .Device }}"
builds:
  - sources: [c]
`,
        { resolver: { standard: { builder: { "outscale-chroot": "@kiln/builder-outscale" } } } },
      );
      expect(r.result.ok).toBe(false);
      const msg = String((r.result.runs[0]?.error as Error | undefined)?.message);
      expect(msg).toMatch(/^\[outscale-chroot\]/);
      expect(msg).toMatch(/\$\{\{ build\.Device \}\}/);
      expect(r.events.some((e) => e.type === "step-start" && e.step === "outscale api")).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
