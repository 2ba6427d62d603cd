/**
 * The builder conformance suite from @kiln/sdk, for outscale-bsu and its alias osc-bsu, against
 * the OAPI double with in-memory machines (the VMs do not boot, so `communicator: none`). After
 * the suite the double must hold nothing the builds made but the OMIs they finished — and those
 * the suite's artifacts own, so it deletes them.
 */
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { testBuilder } from "@kiln/sdk/conformance";
import { InMemoryMachines, startOutscaleDouble } from "@kiln-testbed/outscale";
import { afterAll, expect, it } from "vitest";
import plugin from "./index.js";

const osc = await startOutscaleDouble({
  machines: new InMemoryMachines({ shutdownMs: 10 }),
  durations: { vmStart: 10, vmTerminate: 10, image: 10, snapshot: 10 },
});
afterAll(() => osc.close());
const caFile = join(tmpdir(), `kiln-osc-ca-${process.pid}.pem`);
writeFileSync(caFile, osc.caCert);

let n = 0;
const example = () => ({
  access_key: osc.accessKey,
  secret_key: osc.secretKey,
  region: osc.region,
  custom_endpoint_oapi: osc.endpoint,
  ca_file: caFile,
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

it("leaves nothing on the double but the OMIs the runs finished", async () => {
  const left = osc.leftovers();
  expect({ ...left, images: [], snapshots: [] }).toEqual({
    vms: [],
    keypairs: [],
    securityGroups: [],
    publicIps: [],
    volumes: [],
    snapshots: [],
    images: [],
    strayFiles: [],
  });
  // every snapshot left belongs to an OMI left
  const imageSnaps = left.images.flatMap((id) =>
    (osc.state.images.get(id)?.BlockDeviceMappings ?? []).map((m) => m.Bsu.SnapshotId),
  );
  expect(left.snapshots.sort()).toEqual(imageSnaps.sort());
});
