/**
 * outscale-omi through the engine: `data: { base: { type: outscale-omi … } }` finds the OMI with
 * the data source's own credentials (no environment credentials at all), owners without filters
 * works, `source_omi: ${{ data.base.id }}` feeds the build, unknown filter keys and ambiguous
 * matches are clear errors.
 */
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildFile, ensureDist, makeScratch } from "@kiln/sdk/testing";
import { InMemoryMachines, type OutscaleDouble, startOutscaleDouble } from "@kiln-testbed/outscale";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const PKG_DIR = fileURLToPath(new URL("..", import.meta.url));
const RESOLVER = {
  standard: {
    builder: { "outscale-bsu": "@kiln/builder-outscale" },
    datasource: { "outscale-omi": "@kiln/builder-outscale", "osc-omi": "@kiln/builder-outscale" },
  },
};
const machines = new InMemoryMachines({ shutdownMs: 10 });
let osc: OutscaleDouble;
let dir: string;
let caFile: string;
let n = 0;
const saved: Record<string, string | undefined> = {};

beforeAll(async () => {
  ensureDist(PKG_DIR);
  // No credentials in the environment: the data source must use its own options.
  for (const k of Object.keys(process.env))
    if (k.startsWith("OSC_") || k.startsWith("OUTSCALE_")) {
      saved[k] = process.env[k];
      delete process.env[k];
    }
  osc = await startOutscaleDouble({
    machines,
    durations: { vmStart: 10, vmTerminate: 10, image: 10, snapshot: 10 },
  });
  // A second public image of the same family, newer.
  const base = osc.state.images.get(osc.baseImageId);
  if (!base) throw new Error("no base image");
  osc.state.images.set("ami-kiln0002", {
    ...base,
    ImageId: "ami-kiln0002",
    ImageName: "kiln-appliance-2026.02.01",
    CreationDate: "2026-02-01T00:00:00.000Z",
    Tags: [{ Key: "os", Value: "appliance" }],
  });
  osc.state.seeded.add("ami-kiln0002");
  dir = makeScratch(PKG_DIR, "data");
  caFile = join(dir, "ca.pem");
  writeFileSync(caFile, osc.caCert);
});
afterAll(async () => {
  await osc?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  Object.assign(process.env, saved);
});

const access = (indent = "    ") =>
  [
    `access_key: ${osc.accessKey}`,
    `secret_key: ${osc.secretKey}`,
    `region: ${osc.region}`,
    `custom_endpoint_oapi: ${osc.endpoint}`,
    `ca_file: ${caFile}`,
  ]
    .map((l) => `${indent}${l}`)
    .join("\n");

const file = (data: string, type = "outscale-omi") => `kiln: 1
data:
  base:
    type: ${type}
${access()}
${data}
sources:
  vm:
    type: outscale-bsu
${access()}
    vm_type: tinav5.c1r1p2
    source_omi: \${{ data.base.id }}
    omi_name: kiln-data-${process.pid}-${++n}
    communicator: none
    run_tags: { from: "\${{ data.base.name }}" }
builds:
  - sources: [vm]
`;

const build = (yaml: string) => buildFile(dir, `d-${++n}.yaml`, yaml, { resolver: RESOLVER });

describe("outscale-omi", () => {
  it("owners without filters, most_recent: the newest image; its id feeds source_omi", async () => {
    const r = await build(file("    owners: [Outscale]\n    most_recent: true"));
    expect(r.result.ok, r.log).toBe(true);
    const vm = [...osc.state.vms.values()].at(-1);
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
    expect([...osc.state.vms.values()].at(-1)?.ImageId).toBe(osc.baseImageId);
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
    const left = osc.leftovers();
    expect([
      left.vms,
      left.keypairs,
      left.securityGroups,
      left.publicIps,
      left.volumes,
      left.strayFiles,
    ]).toEqual([[], [], [], [], [], []]);
  });
});
