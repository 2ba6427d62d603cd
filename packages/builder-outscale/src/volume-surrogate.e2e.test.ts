/**
 * outscale-bsuvolume and outscale-bsusurrogate end to end against the OAPI double whose VMs are
 * real QEMU guests (TCG) of kiln's test appliance:
 *
 *  1. bsuvolume: the VM launches with a 1 GiB bsu_volume (tagged), the provisioner makes a file
 *     system on it (the guest's vdb) and writes a file; the VM is stopped and deleted, the volume
 *     is kept (the artifact) — and nothing else is.
 *  2. A new VM gets the kept volume linked while it runs (hot-plugged, as on OUTSCALE): the
 *     file is there.
 *  3. bsusurrogate: the surrogate launches with a 2 GiB launch volume; the provisioner copies
 *     the appliance's own disk onto it (dd vda → vdb) and adds a marker; the surrogate stops,
 *     the volume is snapshotted and registered as the root of a new OMI (omi_root_device, 3 GiB).
 *  4. A VM from that OMI boots from it and shows the marker.
 *  Afterwards the double holds nothing.
 */

import { buildFile } from "@kiln/sdk/testing";
import { NOTHING_LEFT } from "@kiln-testbed/outscale";
import { describe, expect, it } from "vitest";
import { deleteImageAndSnapshots, expectOnlyImages, useDouble } from "./test-double.js";
import { guestDouble, missing, noQemu as skip, tail, until, withVm } from "./test-vm.js";

const RESOLVER = {
  standard: {
    builder: {
      "outscale-bsuvolume": "@kiln/builder-outscale",
      "osc-bsusurrogate": "@kiln/builder-outscale",
    },
    provisioner: { shell: "@kiln/provisioners" },
  },
};
const FILE_MARK = `kiln-bsuvolume-${process.pid}`;
const OMI_MARK = `kiln-surrogate-${process.pid}`;

describe.skipIf(skip)(
  `outscale-bsuvolume and outscale-bsusurrogate with real guests${skip ? ` (skipped: ${missing})` : ""}`,
  () => {
    const consoles: string[] = [];
    const t = useDouble("e2e-volume", () => guestDouble(consoles));

    const source = (type: string) => `    type: ${type}
${t.accessYaml}
    source_omi: ${t.osc.baseImageId}
    vm_type: tinav5.c1r1p2
    subnet_id: ${t.osc.subnetId}
    associate_public_ip_address: true
    temporary_security_group_source_cidr: 127.0.0.1/32
    ssh_username: root
    ssh_timeout: 4m
    vm_ready_timeout: 4m`;

    let volumeId = "";
    it("outscale-bsuvolume: provisions a tagged volume, deletes the VM, keeps only the volume", async () => {
      const yaml = `kiln: 1
sources:
  data:
${source("outscale-bsuvolume")}
    bsu_volumes:
      - { device_name: /dev/xvdf, volume_size: 1, volume_type: gp2, tags: { Name: kiln-data, built-by: kiln } }
builds:
  - sources: [data]
    provisioners:
      - type: shell
        inline:
          - mke2fs -q /dev/vdb
          - mount /dev/vdb /mnt
          - echo ${FILE_MARK} > /mnt/provisioned
          - umount /mnt
          - sync
`;
      const r = await buildFile(t.dir, "bsuvolume.yaml", yaml, { resolver: RESOLVER });
      expect(r.result.ok, `${r.log}\n--- consoles ---\n${tail(consoles, 40)}`).toBe(true);
      const artifact = r.result.runs[0]?.artifacts[0];
      volumeId = artifact?.id ?? "";
      expect(volumeId).toMatch(/^vol-[0-9a-f]+$/);
      expect(artifact?.data).toMatchObject({
        builder_id: "oapi.outscale.bsuvolume",
        volumes: [{ volumeId, deviceName: "/dev/xvdf" }],
      });
      const vol = t.osc.state.volumes.get(volumeId);
      expect(vol?.State).toBe("available");
      expect(vol?.Size).toBe(1);
      expect(vol?.VolumeType).toBe("gp2");
      expect(vol?.Tags).toEqual(
        expect.arrayContaining([
          { Key: "Name", Value: "kiln-data" },
          { Key: "built-by", Value: "kiln" },
        ]),
      );
      expect(t.osc.leftovers()).toEqual({ ...NOTHING_LEFT, volumes: [volumeId] });
    }, 900_000);

    it("the kept volume, linked to a new VM, holds the provisioned file", async () => {
      expect(volumeId).not.toBe("");
      const out = await withVm(t, t.osc.baseImageId, { consoles, subnet: {} }, async (vm) => {
        await t.call("LinkVolume", { VolumeId: volumeId, VmId: vm.id, DeviceName: "/dev/xvdg" });
        return vm.ssh(
          "for i in $(seq 60); do [ -b /dev/vdb ] && break; sleep 1; done; mount /dev/vdb /mnt && cat /mnt/provisioned; umount /mnt",
        );
      });
      expect(out.trim()).toBe(FILE_MARK);
      await until(async () => t.osc.state.volumes.get(volumeId)?.State === "available", 30_000);
      await t.call("DeleteVolume", { VolumeId: volumeId });
    }, 600_000);

    let omiId = "";
    it("outscale-bsusurrogate (osc- alias): the provisioners write an OS onto the launch volume; it becomes the OMI's root", async () => {
      const yaml = `kiln: 1
sources:
  surrogate:
${source("osc-bsusurrogate")}
    image_timeout: 4m
    launch_block_device_mappings:
      - { device_name: /dev/xvdf, volume_size: 2, delete_on_vm_deletion: true }
    omi_root_device:
      source_device_name: /dev/xvdf
      device_name: /dev/sda1
      volume_size: 3
      volume_type: gp2
      delete_on_vm_deletion: true
    omi_name: kiln-surrogate-${process.pid}
builds:
  - sources: [surrogate]
    provisioners:
      - type: shell
        inline:
          - sync
          - dd if=/dev/vda of=/dev/vdb bs=4M
          - sync
          - blockdev --rereadpt /dev/vdb
          - for i in $(seq 20); do [ -b /dev/vdb1 ] && break; sleep 1; done
          - mount /dev/vdb1 /mnt
          - echo ${OMI_MARK} > /mnt/root/marker
          - umount /mnt
          - sync
`;
      const r = await buildFile(t.dir, "surrogate.yaml", yaml, { resolver: RESOLVER });
      expect(r.result.ok, `${r.log}\n--- consoles ---\n${tail(consoles, 40)}`).toBe(true);
      const artifact = r.result.runs[0]?.artifacts[0];
      omiId = (artifact?.data as { omis?: Record<string, string> } | undefined)?.omis?.[t.osc.region] ?? "";
      expect(artifact?.id).toBe(`${t.osc.region}:${omiId}`);
      const img = t.osc.state.images.get(omiId);
      expect(img?.State).toBe("available");
      expect(img?.RootDeviceName).toBe("/dev/sda1");
      expect(img?.BlockDeviceMappings).toHaveLength(1);
      expect(img?.BlockDeviceMappings[0]).toMatchObject({
        DeviceName: "/dev/sda1",
        Bsu: { VolumeSize: 3, VolumeType: "gp2", DeleteOnVmDeletion: true },
      });
      const left = expectOnlyImages(t.osc);
      expect(left.images).toEqual([omiId]);
      expect(left.snapshots).toEqual([img?.BlockDeviceMappings[0]?.Bsu.SnapshotId]);
    }, 900_000);

    it("a VM from the new OMI boots from the written volume and shows the marker", async () => {
      expect(omiId).not.toBe("");
      const out = await withVm(t, omiId, { consoles, subnet: {} }, (vm) => vm.ssh("cat /root/marker"));
      expect(out.trim()).toBe(OMI_MARK);
      await deleteImageAndSnapshots(t, omiId);
      expect(t.osc.leftovers()).toEqual(NOTHING_LEFT);
    }, 600_000);
  },
);
