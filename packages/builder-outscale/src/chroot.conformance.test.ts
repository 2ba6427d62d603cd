/**
 * The builder conformance suite for outscale-chroot and osc-chroot, as root on loop devices: the
 * double registers this machine as the host VM, the source OMI is the appliance's disk. After
 * the suite nothing the runs made is left but the OMIs they finished (the artifacts own those).
 */
import { execFileSync } from "node:child_process";
import { testBuilder } from "@kiln/sdk/conformance";
import { chrootSkip } from "@kiln/sdk/testing";
import { ensureImage } from "@kiln/testbed-guests/images";
import { InMemoryMachines, NOTHING_LEFT } from "@kiln-testbed/outscale";
import { afterAll, describe, expect, it } from "vitest";
import plugin from "./index.js";
import { openDouble } from "./test-double.js";

const skip = chrootSkip("outscale-chroot conformance");

describe.skipIf(skip)("outscale-chroot conformance", async () => {
  if (skip) return;
  const appliance = await ensureImage("appliance");
  const t = await openDouble("chroot-conformance", {
    machines: new InMemoryMachines({ shutdownMs: 10 }),
    baseImage: { file: appliance.file, format: "qcow2" },
    durations: { vmStart: 10, vmTerminate: 10, image: 10, snapshot: 10, volume: 10 },
    host: {},
  });
  afterAll(() => t.close());
  const { osc } = t;
  let n = 0;
  const example = () => ({
    ...t.access,
    metadata_endpoint: osc.metadataEndpoint,
    source_omi: osc.baseImageId,
    omi_name: `chroot-conformance-${process.pid}-${++n}`,
    image_timeout: "20s",
  });
  for (const type of ["outscale-chroot", "osc-chroot"])
    testBuilder({
      plugin,
      type,
      secrets: [osc.secretKey],
      example: example(),
      invalid: [
        { ...example(), mount_partition: "one" },
        { ...example(), root_volume_type: "ssd" },
        { ...example(), device_path: "/dev/vdb" },
      ],
    });

  it("leaves no volume, snapshot without its OMI, loop device or node", () => {
    const left = osc.leftovers();
    expect({ ...left, images: [], snapshots: [] }).toEqual({ ...NOTHING_LEFT, hostDevices: [] });
    const imageSnaps = left.images.flatMap((id) =>
      (osc.state.images.get(id)?.BlockDeviceMappings ?? []).map((m) => m.Bsu.SnapshotId),
    );
    expect(left.snapshots.sort()).toEqual(imageSnaps.sort());
    expect(execFileSync("losetup", ["-a"], { encoding: "utf8" })).not.toMatch(/kiln-osc-double-/);
  });
});
