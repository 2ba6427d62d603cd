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

import { rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildFile, ensureDist, makeScratch } from "@kiln/sdk/testing";
import { ensureImage } from "@kiln/testbed-guests/images";
import { CI, missingQemu, sshRun, testKey } from "@kiln/testbed-guests/testing";
import { type OutscaleDouble, startOutscaleDouble } from "@kiln-testbed/outscale";
import { GuestMachines } from "@kiln-testbed/outscale/guests";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OapiClient } from "./client.js";
import { resolveCredentials } from "./credentials.js";

const PKG_DIR = fileURLToPath(new URL("..", import.meta.url));
const RESOLVER = {
  standard: {
    builder: { "outscale-bsu": "@kiln/builder-outscale" },
    datasource: { "outscale-omi": "@kiln/builder-outscale" },
    provisioner: { shell: "@kiln/provisioners" },
  },
};
const missing = missingQemu();
// Skip where QEMU is missing — never under CI=true, where the test must fail instead.
const skip = missing !== "" && !CI;
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
  let osc: OutscaleDouble;
  let machines: GuestMachines;
  let dir: string;
  let caFile: string;
  const consoles: string[] = [];

  beforeAll(async () => {
    ensureDist(PKG_DIR);
    const appliance = await ensureImage("appliance");
    machines = new GuestMachines({
      memoryMiB: appliance.memoryMiB,
      console: (vm, line) => consoles.push(`${vm}| ${line}`),
    });
    osc = await startOutscaleDouble({
      machines,
      baseImage: { file: appliance.file, format: "qcow2" },
      durations: { vmStart: 0, vmTerminate: 50, image: 50, snapshot: 50 },
    });
    dir = makeScratch(PKG_DIR, "e2e");
    caFile = join(dir, "ca.pem");
    writeFileSync(caFile, osc.caCert);
  }, 600_000);

  afterAll(async () => {
    await osc?.close(); // kills any guest still running
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const access = () => `    access_key: ${osc.accessKey}
    secret_key: ${osc.secretKey}
    region: ${osc.region}
    custom_endpoint_oapi: ${osc.endpoint}
    ca_file: ${caFile}`;

  let omiId = "";
  it("builds an OMI: data source → VM in a subnet with a public IP → SSH → shell → stop → OMI", async () => {
    const yaml = `kiln: 1
data:
  base:
    type: outscale-omi
${access()}
    owners: [Outscale]
    filters: { image-name: kiln-appliance-* }
sources:
  appliance:
    type: outscale-bsu
${access()}
    source_omi: \${{ data.base.id }}
    vm_type: tinav5.c1r1p2
    subnet_id: ${osc.subnetId}
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
    const r = await buildFile(dir, "bsu.yaml", yaml, { resolver: RESOLVER });
    const why = `${r.log}\n--- consoles ---\n${consoles.slice(-40).join("\n")}`;
    expect(r.result.ok, why).toBe(true);
    expect(r.log).toMatch(/Found ami-kiln0001/);
    expect(r.log).toMatch(/Linked the public IP 127\.0\.0\.\d+ to i-/);
    expect(r.log).toMatch(/Waiting for SSH on 127\.0\.0\.\d+:22/);
    expect(r.log).toMatch(/Connected to SSH/);
    const artifact = r.result.runs[0]?.artifacts[0];
    omiId = (artifact?.data as { omis?: Record<string, string> } | undefined)?.omis?.[osc.region] ?? "";
    expect(artifact?.id).toBe(`${osc.region}:${omiId}`);
    expect(osc.state.images.get(omiId)?.State).toBe("available");
    expect(osc.state.images.get(omiId)?.Tags).toContainEqual({ Key: "built-by", Value: "kiln" });
    const left = osc.leftovers();
    expect([
      left.vms,
      left.keypairs,
      left.securityGroups,
      left.publicIps,
      left.volumes,
      left.strayFiles,
    ]).toEqual([[], [], [], [], [], []]);
    expect(left.images).toEqual([omiId]);
  }, 900_000);

  it("without the security-group rule for ssh_port (a dropped CreateSecurityGroupRule) SSH times out, and nothing is left", async () => {
    osc.faults.drop("CreateSecurityGroupRule", 1);
    const yaml = `kiln: 1
sources:
  appliance:
    type: outscale-bsu
${access()}
    source_omi: ${osc.baseImageId}
    vm_type: tinav5.c1r1p2
    subnet_id: ${osc.subnetId}
    associate_public_ip_address: true
    ssh_username: root
    ssh_timeout: 25s
    omi_name: kiln-e2e-norule-${process.pid}
builds:
  - sources: [appliance]
`;
    const r = await buildFile(dir, "norule.yaml", yaml, { resolver: RESOLVER });
    expect(r.result.ok).toBe(false);
    expect(String((r.result.runs[0]?.error as Error | undefined)?.message)).toMatch(
      /timed out after \d+s waiting for SSH on 127\.0\.0\.\d+:22/,
    );
    const left = osc.leftovers();
    expect([
      left.vms,
      left.keypairs,
      left.securityGroups,
      left.publicIps,
      left.volumes,
      left.strayFiles,
    ]).toEqual([[], [], [], [], [], []]);
    expect(left.images).toEqual([omiId]);
  }, 300_000);

  it("a VM from the new OMI boots, is reachable only through a linked public IP, and holds the marker", async () => {
    expect(omiId).not.toBe("");
    const c = resolveCredentials(
      {
        access_key: osc.accessKey,
        secret_key: osc.secretKey,
        region: osc.region,
        custom_endpoint_oapi: osc.endpoint,
        ca_file: caFile,
      },
      { env: {}, baseDir: dir },
    );
    const api = new OapiClient(c);
    const key = testKey();
    // biome-ignore lint/suspicious/noExplicitAny: answers read freely
    type Any = any;
    const call = (a: string, b: Record<string, unknown> = {}) => api.call<Any>(a, b);
    const until = async (f: () => Promise<boolean>, ms: number) => {
      const end = Date.now() + ms;
      while (!(await f())) {
        if (Date.now() > end) throw new Error("timed out");
        await new Promise((res) => setTimeout(res, 500));
      }
    };
    try {
      await call("CreateKeypair", {
        KeypairName: "check",
        PublicKey: Buffer.from(key.publicKey).toString("base64"),
      });
      const sg = (
        await call("CreateSecurityGroup", {
          SecurityGroupName: "check",
          Description: "check",
          NetId: osc.netId,
        })
      ).SecurityGroup.SecurityGroupId;
      await call("CreateSecurityGroupRule", {
        SecurityGroupId: sg,
        Flow: "Inbound",
        Rules: [{ FromPortRange: 22, ToPortRange: 22, IpProtocol: "tcp", IpRanges: ["127.0.0.1/32"] }],
      });
      const ip = (await call("CreatePublicIp")).PublicIp;
      const vm = (
        await call("CreateVms", {
          ImageId: omiId,
          KeypairName: "check",
          SubnetId: osc.subnetId,
          SecurityGroupIds: [sg],
        })
      ).Vms[0].VmId;
      await until(
        async () => (await call("ReadVms", { Filters: { VmIds: [vm] } })).Vms[0].State === "running",
        120_000,
      );
      expect(await refused(ip.PublicIp, 22)).toBe(true); // no public IP linked yet: nothing listens there
      await call("LinkPublicIp", { PublicIpId: ip.PublicIpId, VmId: vm });
      const out = await sshRun(
        { host: ip.PublicIp, port: 22, user: "root", privateKey: key.privateKey },
        "cat /root/marker /root/user-data-ran",
        "180s",
      );
      // the provisioner's marker, and what the first VM's user data (base64 once, via the seed) ran
      expect(out.stdout.trim().split("\n"), `${out.stderr}\n${consoles.slice(-30).join("\n")}`).toEqual([
        MARKER,
        "from-user-data",
      ]);
      await call("DeleteVms", { VmIds: [vm] });
      await until(
        async () => (await call("ReadVms", { Filters: { VmIds: [vm] } })).Vms[0].State === "terminated",
        60_000,
      );
      await call("DeleteSecurityGroup", { SecurityGroupId: sg });
      await call("DeletePublicIp", { PublicIpId: ip.PublicIpId });
      await call("DeleteKeypair", { KeypairName: "check" });
      const snaps = osc.leftovers().snapshots;
      await call("DeleteImage", { ImageId: omiId });
      for (const s of snaps) await call("DeleteSnapshot", { SnapshotId: s });
      expect(osc.leftovers()).toEqual({
        vms: [],
        keypairs: [],
        securityGroups: [],
        publicIps: [],
        volumes: [],
        snapshots: [],
        images: [],
        strayFiles: [],
      });
    } finally {
      api.close();
    }
  }, 600_000);
});
