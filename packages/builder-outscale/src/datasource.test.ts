/**
 * outscale-omi through the engine: `data: { base: { type: outscale-omi … } }` finds the OMI with
 * the data source's own credentials (no environment credentials at all), owners without filters
 * works, `source_omi: ${{ data.base.id }}` feeds the build, unknown filter keys and ambiguous
 * matches are clear errors.
 */
import { buildFile } from "@kiln/sdk/testing";
import { InMemoryMachines } from "@kiln-testbed/outscale";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectOnlyImages, useDouble } from "./test-double.js";

const RESOLVER = {
  standard: {
    builder: { "outscale-bsu": "@kiln/builder-outscale" },
    datasource: { "outscale-omi": "@kiln/builder-outscale", "osc-omi": "@kiln/builder-outscale" },
  },
};
const machines = new InMemoryMachines({ shutdownMs: 10 });
let n = 0;
const saved: Record<string, string | undefined> = {};

// No credentials in the environment: the data source must use its own options.
beforeAll(() => {
  for (const k of Object.keys(process.env))
    if (k.startsWith("OSC_") || k.startsWith("OUTSCALE_")) {
      saved[k] = process.env[k];
      delete process.env[k];
    }
});
afterAll(() => {
  Object.assign(process.env, saved);
});
const t = useDouble("data", () => ({
  machines,
  durations: { vmStart: 10, vmTerminate: 10, image: 10, snapshot: 10 },
}));
// A second public image of the same family, newer.
beforeAll(() => {
  const base = t.osc.state.images.get(t.osc.baseImageId);
  if (!base) throw new Error("no base image");
  t.osc.state.images.set("ami-kiln0002", {
    ...base,
    ImageId: "ami-kiln0002",
    ImageName: "kiln-appliance-2026.02.01",
    CreationDate: "2026-02-01T00:00:00.000Z",
    Tags: [{ Key: "os", Value: "appliance" }],
  });
  t.osc.state.seeded.add("ami-kiln0002");
});

const file = (data: string, type = "outscale-omi") => `kiln: 1
data:
  base:
    type: ${type}
${t.accessYaml}
${data}
sources:
  vm:
    type: outscale-bsu
${t.accessYaml}
    vm_type: tinav5.c1r1p2
    source_omi: \${{ data.base.id }}
    omi_name: kiln-data-${process.pid}-${++n}
    communicator: none
    run_tags: { from: "\${{ data.base.name }}" }
builds:
  - sources: [vm]
`;

const build = (yaml: string) => buildFile(t.dir, `d-${++n}.yaml`, yaml, { resolver: RESOLVER });

describe("outscale-omi", () => {
  it("owners without filters, most_recent: the newest image; its id feeds source_omi", async () => {
    const r = await build(file("    owners: [Outscale]\n    most_recent: true"));
    expect(r.result.ok, r.log).toBe(true);
    const vm = [...t.osc.state.vms.values()].at(-1);
    expect(vm?.ImageId).toBe("ami-kiln0002");
    expect(vm?.Tags).toContainEqual({ Key: "from", Value: "kiln-appliance-2026.02.01" });
    expect(r.log).toMatch(/Found ami-kiln0002 \(kiln-appliance-2026.02.01\)/);
  });
  it("filters with Packer's names (and the osc-omi alias)", async () => {
    const r = await build(
      file(
        "    owners: [Outscale]\n    filters: { image-name: kiln-appliance-2026.01.*, root-device-type: bsu }",
        "osc-omi",
      ),
    );
    expect(r.result.ok, r.log).toBe(true);
    expect([...t.osc.state.vms.values()].at(-1)?.ImageId).toBe(t.osc.baseImageId);
  });
  it("several matches without most_recent: an error that lists them", async () => {
    const err = await build(file("    owners: [Outscale]")).catch((e) => e);
    expect(err.message).toMatch(
      /data.base \(outscale-omi\): \[outscale-omi\] the filters matched 2 OMIs \(ami-kiln0001, ami-kiln0002\)/,
    );
    expect(err.diagnostics[0].pos.line).toBe(4);
  });
  it("an unknown filter key (the plugin's docs' `name`) is refused with the right name", async () => {
    const err = await build(file("    owners: [Outscale]\n    filters: { name: kiln-* }")).catch((e) => e);
    expect(err.message).toMatch(/unknown filter "name"/);
    expect(err.hint).toMatch(/write image-name/);
  });
  it("neither filters nor owners: a clear error, not a crash", async () => {
    const err = await build(file("    most_recent: true")).catch((e) => e);
    expect(err.message).toMatch(/give filters or owners/);
  });
  it("nothing is left but the OMIs the builds made", () => {
    expectOnlyImages(t.osc);
  });
});
