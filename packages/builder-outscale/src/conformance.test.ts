/**
 * The builder conformance suite from @kiln/sdk, for outscale-bsu and its alias osc-bsu, against
 * the OAPI double with in-memory machines (the VMs do not boot, so `communicator: none`). After
 * the suite the double must hold nothing the builds made but the OMIs they finished — and those
 * the suite's artifacts own, so it deletes them.
 */
import { testBuilder } from "@kiln/sdk/conformance";
import { InMemoryMachines, NOTHING_LEFT } from "@kiln-testbed/outscale";
import { afterAll, expect, it } from "vitest";
import plugin from "./index.js";
import { openDouble } from "./test-double.js";

const t = await openDouble("conformance", {
  machines: new InMemoryMachines({ shutdownMs: 10 }),
  durations: { vmStart: 10, vmTerminate: 10, image: 10, snapshot: 10 },
});
afterAll(() => t.close());
const { osc } = t;

let n = 0;
const example = () => ({
  ...t.access,
  vm_type: "tinav5.c1r1p2",
  source_omi: osc.baseImageId,
  omi_name: `conformance-${process.pid}-${++n}`,
  communicator: "none",
  vm_ready_timeout: "20s",
  image_timeout: "20s",
});

for (const type of ["outscale-bsu", "osc-bsu"]) {
  testBuilder({
    plugin,
    type,
    secrets: [osc.secretKey],
    example: example(),
    invalid: [
      { ...example(), vm_type: 3 },
      { ...example(), vm_type: undefined },
      { ...example(), omi_name: "x" },
      { ...example(), shutdown_behavior: "halt" },
      { ...example(), launch_block_device_mappings: [{ volume_size: 10 }] },
      { ...example(), launch_block_device_mappings: [{ device_name: "/dev/vdb" }] },
    ],
  });
}

const volumeExample = () => {
  const { omi_name: _n, image_timeout: _t, ...run } = example();
  return {
    ...run,
    bsu_volumes: [{ device_name: "/dev/xvdf", volume_size: 1, tags: { Name: "kept" } }],
  };
};
for (const type of ["outscale-bsuvolume", "osc-bsuvolume"]) {
  testBuilder({
    plugin,
    type,
    secrets: [osc.secretKey],
    example: volumeExample(),
    invalid: [
      { ...volumeExample(), bsu_volumes: [{ volume_size: 1 }] },
      { ...volumeExample(), bsu_volumes: [{ device_name: "/dev/xvdf", tags: { a: 1 } }] },
      { ...volumeExample(), omi_name: "not-an-option-here" },
    ],
  });
}

const surrogateExample = () => ({
  ...example(),
  launch_block_device_mappings: [{ device_name: "/dev/xvdf", volume_size: 1, delete_on_vm_deletion: true }],
  omi_root_device: { source_device_name: "/dev/xvdf", device_name: "/dev/sda1", volume_size: 2 },
});
for (const type of ["outscale-bsusurrogate", "osc-bsusurrogate"]) {
  testBuilder({
    plugin,
    type,
    secrets: [osc.secretKey],
    example: surrogateExample(),
    invalid: [
      { ...surrogateExample(), omi_root_device: undefined },
      { ...surrogateExample(), omi_root_device: { source_device_name: "/dev/xvdf" } },
      {
        ...surrogateExample(),
        omi_root_device: { source_device_name: "/dev/vdb", device_name: "/dev/sda1" },
      },
    ],
  });
}

it("leaves nothing on the double but the OMIs the runs finished", async () => {
  const left = osc.leftovers();
  // the volumes left are the bsuvolume runs' artifacts, each tagged as its bsu_volumes entry says
  for (const v of left.volumes) {
    expect(osc.state.volumes.get(v)?.Tags).toContainEqual({ Key: "Name", Value: "kept" });
    expect(osc.state.volumes.get(v)?.State).toBe("available");
  }
  expect(left.volumes.length).toBeGreaterThan(0);
  expect({ ...left, images: [], snapshots: [], volumes: [] }).toEqual(NOTHING_LEFT);
  // every snapshot left belongs to an OMI left
  const imageSnaps = left.images.flatMap((id) =>
    (osc.state.images.get(id)?.BlockDeviceMappings ?? []).map((m) => m.Bsu.SnapshotId),
  );
  expect(left.snapshots.sort()).toEqual(imageSnaps.sort());
});
