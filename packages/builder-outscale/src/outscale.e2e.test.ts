/**
 * outscale-bsu end to end against the OAPI double whose VMs are real QEMU guests (the shared
 * runner, TCG) of kiln's test appliance, the Packer flow OUTSCALE users run:
 *
 *  1. The outscale-omi data source finds the base OMI (the appliance's disk, a public image of
 *     alias Outscale); the VM launches from `${{ data.base.id }}` in a subnet with a public IP;
 *     kiln reaches it only through that public IP and the temporary security group's rule for
 *     port 22, logs in with the key pair it imported, provisions a marker, stops the VM (ACPI),
 *     and the new OMI is registered from snapshots of its volume (disk files).
 *  2. A VM from the new OMI boots and shows the marker and the file the first VM's user data
 *     wrote (its runcmd, through the seed) — and is unreachable until its public IP is linked.
 *  Between them: with the security-group rule dropped (a fault), SSH times out and nothing stays.
 *
 * Afterwards the double holds nothing but the new OMI, which the test deletes, and then nothing.
 */

import net from "node:net";
import { buildFile } from "@kiln/sdk/testing";
import { guestIp } from "@kiln/testbed-guests/testing";
import { NOTHING_LEFT } from "@kiln-testbed/outscale";
import { describe, expect, it } from "vitest";
import { deleteImageAndSnapshots, expectOnlyImages, useDouble } from "./test-double.js";
import { guestDouble, missing, noQemu as skip, tail, withVm } from "./test-vm.js";

const RESOLVER = {
  standard: {
    builder: { "outscale-bsu": "@kiln/builder-outscale" },
    datasource: { "outscale-omi": "@kiln/builder-outscale" },
    provisioner: { shell: "@kiln/provisioners" },
  },
};
const MARKER = `kiln-outscale-${process.pid}`;

const refused = (host: string, port: number) =>
  new Promise<boolean>((resolve) => {
    const s = net.connect({ host, port, timeout: 2000 });
    s.once("connect", () => {
      s.destroy();
      resolve(false);
    });
    s.once("error", () => resolve(true));
    s.once("timeout", () => {
      s.destroy();
      resolve(true);
    });
  });

describe.skipIf(skip)(`outscale-bsu with real guests${skip ? ` (skipped: ${missing})` : ""}`, () => {
  const consoles: string[] = [];
  const t = useDouble("e2e", () => guestDouble(consoles));

  let omiId = "";
  it("builds an OMI: data source → VM in a subnet with a public IP → SSH → shell → stop → OMI", async () => {
    const yaml = `kiln: 1
data:
  base:
    type: outscale-omi
${t.accessYaml}
    owners: [Outscale]
    filters: { image-name: kiln-appliance-* }
sources:
  appliance:
    type: outscale-bsu
${t.accessYaml}
    source_omi: \${{ data.base.id }}
    vm_type: tinav5.c1r1p2
    subnet_id: ${t.osc.subnetId}
    associate_public_ip_address: true
    temporary_security_group_source_cidr: 127.0.0.1/32
    ssh_username: root
    ssh_timeout: 4m
    vm_ready_timeout: 4m
    image_timeout: 4m
    omi_name: kiln-e2e-${process.pid}
    tags: { built-by: kiln }
    user_data: |
      #cloud-config
      runcmd:
        - echo from-user-data > /root/user-data-ran
builds:
  - sources: [appliance]
    provisioners:
      - type: shell
        inline:
          - echo ${MARKER} > /root/marker
          - sync
`;
    const r = await buildFile(t.dir, "bsu.yaml", yaml, { resolver: RESOLVER });
    const why = `${r.log}\n--- consoles ---\n${tail(consoles, 40)}`;
    expect(r.result.ok, why).toBe(true);
    expect(r.log).toMatch(/Found ami-kiln0001/);
    // public IPs from the guests' pool: 198.18.0.0/15 on lo as root (a cloud never hands out 127.x)
    expect(r.log).toMatch(new RegExp(`Linked the public IP ${guestIp()} to i-`));
    expect(r.log).toMatch(new RegExp(`Waiting for SSH on ${guestIp()}:22`));
    expect(r.log).toMatch(/Connected to SSH/);
    const artifact = r.result.runs[0]?.artifacts[0];
    omiId = (artifact?.data as { omis?: Record<string, string> } | undefined)?.omis?.[t.osc.region] ?? "";
    expect(artifact?.id).toBe(`${t.osc.region}:${omiId}`);
    expect(t.osc.state.images.get(omiId)?.State).toBe("available");
    expect(t.osc.state.images.get(omiId)?.Tags).toContainEqual({ Key: "built-by", Value: "kiln" });
    expect(expectOnlyImages(t.osc).images).toEqual([omiId]);
  }, 900_000);

  it("without the security-group rule for ssh_port (a dropped CreateSecurityGroupRule) SSH times out, and nothing is left", async () => {
    t.osc.faults.drop("CreateSecurityGroupRule", 1);
    const yaml = `kiln: 1
sources:
  appliance:
    type: outscale-bsu
${t.accessYaml}
    source_omi: ${t.osc.baseImageId}
    vm_type: tinav5.c1r1p2
    subnet_id: ${t.osc.subnetId}
    associate_public_ip_address: true
    ssh_username: root
    ssh_timeout: 25s
    omi_name: kiln-e2e-norule-${process.pid}
builds:
  - sources: [appliance]
`;
    const r = await buildFile(t.dir, "norule.yaml", yaml, { resolver: RESOLVER });
    expect(r.result.ok).toBe(false);
    expect(String((r.result.runs[0]?.error as Error | undefined)?.message)).toMatch(
      new RegExp(`timed out after \\d+s waiting for SSH on ${guestIp()}:22`),
    );
    expect(expectOnlyImages(t.osc).images).toEqual([omiId]);
  }, 300_000);

  it("a VM from the new OMI boots, is reachable only through a linked public IP, and holds the marker", async () => {
    expect(omiId).not.toBe("");
    const out = await withVm(
      t,
      omiId,
      {
        consoles,
        // no public IP linked yet: nothing listens there
        subnet: { beforeLink: async (ip) => expect(await refused(ip, 22)).toBe(true) },
      },
      (vm) => vm.ssh("cat /root/marker /root/user-data-ran"),
    );
    // the provisioner's marker, and what the first VM's user data (base64 once, via the seed) ran
    expect(out.trim().split("\n"), tail(consoles, 30)).toEqual([MARKER, "from-user-data"]);
    await deleteImageAndSnapshots(t, omiId);
    expect(t.osc.leftovers()).toEqual(NOTHING_LEFT);
  }, 600_000);
});
