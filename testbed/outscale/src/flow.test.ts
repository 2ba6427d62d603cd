/**
 * The double's API logic with in-memory machines: the lifecycle a bsu build drives, reachability
 * (public IP + a rule for the port), images as snapshot files, faults, and the leftover listing.
 */
import fs from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { rawCall } from "./client.js";
import { InMemoryMachines } from "./machines.js";
import { NOTHING_LEFT, startOutscaleDouble } from "./server.js";

const machines = new InMemoryMachines({ shutdownMs: 10 });
const osc = await startOutscaleDouble({
  machines,
  durations: { vmStart: 10, image: 10, snapshot: 10, volume: 5, vmTerminate: 10 },
});
afterAll(() => osc.close());
const o = { accessKey: osc.accessKey, secretKey: osc.secretKey, region: osc.region, ca: osc.caCert };
// biome-ignore lint/suspicious/noExplicitAny: the tests read answers freely
type Any = Record<string, any>;
const api = async (action: string, body: Any = {}): Promise<Any> => {
  const r = await rawCall(osc.endpoint, action, body, o);
  if (r.status !== 200)
    throw Object.assign(new Error(`${action} ${r.status} ${JSON.stringify(r.body)}`), { r });
  return r.body;
};
const failing = async (action: string, body: Any) => {
  const r = await rawCall(osc.endpoint, action, body, o);
  return { status: r.status, ...((r.body.Errors as Any[])?.[0] ?? {}) } as Any;
};
const until = async (what: () => Promise<boolean>, ms = 5000) => {
  const end = Date.now() + ms;
  while (!(await what())) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 10));
  }
};
const vmState = async (id: string) => (await api("ReadVms", { Filters: { VmIds: [id] } })).Vms[0]?.State;

describe("a build's lifecycle", () => {
  let vmId = "";
  let ipId = "";
  let address = "";
  let sgId = "";
  let imageId = "";
  it("imports a key pair, makes a group with a rule, and a public IP", async () => {
    const line = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ5lQPt5Mto0lMdLH1c2Fx2P0B1tLk4D6Yb7e8wO1lqh kiln";
    const kp = await api("CreateKeypair", {
      KeypairName: "kiln_t",
      PublicKey: Buffer.from(line).toString("base64"),
    });
    expect(kp.Keypair.KeypairType).toBe("ssh-ed25519");
    expect(kp.Keypair.PrivateKey).toBeUndefined();
    sgId = (
      await api("CreateSecurityGroup", { SecurityGroupName: "kiln_t", Description: "t", NetId: osc.netId })
    ).SecurityGroup.SecurityGroupId;
    const ip = await api("CreatePublicIp");
    ipId = ip.PublicIp.PublicIpId;
    address = ip.PublicIp.PublicIp;
    expect(address).toMatch(/^203\.0\.113\.\d+$/); // TEST-NET-3: a cloud never hands out 127.x
  });
  it("CreateVms in a Net: pending, then running; no public address until linked", async () => {
    const r = await api("CreateVms", {
      ImageId: osc.baseImageId,
      VmType: "tinav5.c1r1p2",
      KeypairName: "kiln_t",
      SubnetId: osc.subnetId,
      SecurityGroupIds: [sgId],
      UserData: Buffer.from("#cloud-config\nruncmd: [touch /marker]\n").toString("base64"),
      BlockDeviceMappings: [
        { DeviceName: "/dev/sda1", Bsu: { VolumeSize: 2, DeleteOnVmDeletion: true } },
        { DeviceName: "/dev/xvdb", Bsu: { VolumeSize: 1, DeleteOnVmDeletion: false } },
      ],
    });
    vmId = r.Vms[0].VmId;
    expect(r.Vms[0].State).toBe("pending");
    await until(async () => (await vmState(vmId)) === "running");
    const vm = (await api("ReadVms", { Filters: { VmIds: [vmId] } })).Vms[0];
    expect(vm.PublicIp).toBeUndefined();
    expect(vm.PrivateIp).toMatch(/^10\.0\./);
    expect(machines.started.at(-1)?.seed.sshAuthorizedKeys[0]).toMatch(/^ssh-ed25519 /);
    expect(machines.started.at(-1)?.seed.userData).toContain("runcmd");
    const disks = machines.started.at(-1)?.disks ?? [];
    expect(disks).toHaveLength(2);
    expect(fs.statSync(disks[0] as string).size).toBe(2 * 1024 ** 3);
    expect(machines.exposed.get(vmId)).toBeUndefined();
  });
  it("the guest becomes reachable only with the public IP linked and a rule for the port from 127.0.0.1", async () => {
    await api("LinkPublicIp", { PublicIpId: ipId, VmId: vmId });
    expect(machines.exposed.get(vmId)).toBeUndefined(); // no rule yet
    await api("CreateSecurityGroupRule", {
      SecurityGroupId: sgId,
      Flow: "Inbound",
      Rules: [{ FromPortRange: 22, ToPortRange: 22, IpProtocol: "tcp", IpRanges: ["10.9.0.0/16"] }],
    });
    expect(machines.exposed.get(vmId)).toBeUndefined(); // a rule that does not cover 127.0.0.1
    await api("CreateSecurityGroupRule", {
      SecurityGroupId: sgId,
      Flow: "Inbound",
      Rules: [{ FromPortRange: 22, ToPortRange: 22, IpProtocol: "tcp", IpRanges: ["127.0.0.1/32"] }],
    });
    expect([...(machines.exposed.get(vmId) ?? [])]).toEqual([`${address}:22`]);
    expect((await api("ReadVms", { Filters: { VmIds: [vmId] } })).Vms[0].PublicIp).toBe(address);
  });
  it("StopVms → stopping → stopped; not reachable while stopped", async () => {
    const r = await api("StopVms", { VmIds: [vmId] });
    expect(r.Vms[0]).toMatchObject({ PreviousState: "running", CurrentState: "stopping" });
    await until(async () => (await vmState(vmId)) === "stopped");
    expect(machines.exposed.get(vmId)).toBeUndefined();
  });
  it("CreateImage snapshots every volume into files; pending → available", async () => {
    const r = await api("CreateImage", { ImageName: "kiln-out", VmId: vmId, Description: "d" });
    imageId = r.Image.ImageId;
    expect(r.Image.State).toBe("pending");
    await until(
      async () =>
        (await api("ReadImages", { Filters: { ImageIds: [imageId] } })).Images[0].State === "available",
    );
    const img = (await api("ReadImages", { Filters: { ImageIds: [imageId] } })).Images[0];
    expect(img.BlockDeviceMappings.map((m: Any) => m.DeviceName)).toEqual(["/dev/sda1", "/dev/xvdb"]);
    const snaps = (
      await api("ReadSnapshots", {
        Filters: { SnapshotIds: img.BlockDeviceMappings.map((m: Any) => m.Bsu.SnapshotId) },
      })
    ).Snapshots;
    expect(snaps.map((s: Any) => s.State)).toEqual(["completed", "completed"]);
    expect(osc.leftovers().strayFiles).toEqual([]);
  });
  it("a second CreateImage with the same name conflicts", async () => {
    expect(await failing("CreateImage", { ImageName: "kiln-out", VmId: vmId })).toMatchObject({
      status: 409,
      Type: "ResourceConflict",
    });
  });
  it("DeleteVms → terminated; volumes with DeleteOnVmDeletion go, the others stay available", async () => {
    await api("DeleteVms", { VmIds: [vmId] });
    await until(async () => (await vmState(vmId)) === "terminated");
    const left = osc.leftovers();
    expect(left.vms).toEqual([]);
    expect(left.volumes).toHaveLength(1);
    const vol = (await api("ReadVolumes", { Filters: { VolumeIds: left.volumes } })).Volumes[0];
    expect(vol.State).toBe("available");
    await api("DeleteVolume", { VolumeId: vol.VolumeId });
  });
  it("a VM from the new image gets its root from the snapshot's file", async () => {
    const r = await api("CreateVms", { ImageId: imageId });
    const id = r.Vms[0].VmId;
    expect(r.Vms[0].PublicIp).toMatch(/^203\.0\.113\./); // outside a Net: at once
    await until(async () => (await vmState(id)) === "running");
    await api("DeleteVms", { VmIds: [id] });
    await until(async () => (await vmState(id)) === "terminated");
    // /dev/xvdb kept DeleteOnVmDeletion: false from the first VM's mapping: it stays.
    const kept = osc.leftovers().volumes;
    expect(kept).toHaveLength(1);
    await api("DeleteVolume", { VolumeId: kept[0] });
  });
  it("cleans up to nothing but the image and its snapshots", async () => {
    await api("DeleteSecurityGroup", { SecurityGroupId: sgId });
    await api("DeletePublicIp", { PublicIpId: ipId });
    await api("DeleteKeypair", { KeypairName: "kiln_t" });
    const snaps = osc.leftovers().snapshots;
    await api("DeleteImage", { ImageId: imageId });
    for (const s of snaps) await api("DeleteSnapshot", { SnapshotId: s });
    expect(osc.leftovers()).toEqual(NOTHING_LEFT);
  });
});

describe("contract and rules in prose", () => {
  it.each([
    ["CreateVms", {}, 400, "MissingParameter"],
    ["CreateVms", { ImageId: osc.baseImageId, Foo: 1 }, 400, "InvalidParameter"],
    ["CreateVms", { ImageId: osc.baseImageId, UserData: "not base64!" }, 400, "InvalidParameterValue"],
    ["LinkVolume", { DeviceName: "/dev/vdb", VmId: "i-1", VolumeId: "vol-1" }, 400, "InvalidParameterValue"],
    ["CreateVms", { ImageId: "ami-nope" }, 400, "InvalidResource"],
    ["CreateVolume", { SubregionName: `${osc.region}a` }, 400, "MissingParameter"],
    ["ReadVms", { Filters: { VmIds: ["i-nope"] } }, 400, "InvalidResource"],
    ["DeleteSecurityGroup", { SecurityGroupId: "sg-kiln0001" }, 400, "InvalidParameterValue"],
  ])("%s %j → %d %s", async (action, body, status, type) => {
    expect(await failing(action, body)).toMatchObject({ status, Type: type });
  });
  it("DryRun answers 200 and changes nothing", async () => {
    await api("CreateKeypair", { KeypairName: "dry", DryRun: true });
    expect(osc.leftovers().keypairs).toEqual([]);
  });
  it("CreateKeypair without a public key makes one and returns the private key once", async () => {
    const k = (await api("CreateKeypair", { KeypairName: "gen" })).Keypair;
    expect(k.PrivateKey).toMatch(/BEGIN RSA PRIVATE KEY/);
    expect(
      (await api("ReadKeypairs", { Filters: { KeypairNames: ["gen"] } })).Keypairs[0].PrivateKey,
    ).toBeUndefined();
    await api("DeleteKeypair", { KeypairName: "gen" });
  });
  it("the same ClientToken gives the same VM", async () => {
    const a = (await api("CreateVms", { ImageId: osc.baseImageId, ClientToken: "tok-1" })).Vms[0].VmId;
    const b = (await api("CreateVms", { ImageId: osc.baseImageId, ClientToken: "tok-1" })).Vms[0].VmId;
    expect(b).toBe(a);
    await api("DeleteVms", { VmIds: [a] });
    await until(async () => (await vmState(a)) === "terminated");
  });
});

describe("faults", () => {
  it("throttling: 429 code 25, then normal again", async () => {
    osc.faults.throttle(2, "ReadVms");
    expect(await failing("ReadVms", {})).toMatchObject({ status: 429, Code: "25" });
    expect(await failing("ReadVms", {})).toMatchObject({ status: 429 });
    expect((await rawCall(osc.endpoint, "ReadVms", {}, o)).status).toBe(200);
  });
  it("an injected 503", async () => {
    osc.faults.inject({ action: "ReadImages", status: 503, times: 1 });
    expect(await failing("ReadImages", {})).toMatchObject({ status: 503 });
  });
  it("a failing image transition ends in failed with the reason", async () => {
    const vm = (await api("CreateVms", { ImageId: osc.baseImageId, BootOnCreation: false })).Vms[0].VmId;
    osc.faults.failTransition("image", "disk full");
    const img = (await api("CreateImage", { ImageName: "doomed", VmId: vm })).Image.ImageId;
    await until(
      async () => (await api("ReadImages", { Filters: { ImageIds: [img] } })).Images[0].State === "failed",
    );
    expect(
      (await api("ReadImages", { Filters: { ImageIds: [img] } })).Images[0].StateComment.StateMessage,
    ).toBe("disk full");
    await api("DeleteImage", { ImageId: img });
    for (const s of osc.leftovers().snapshots) await api("DeleteSnapshot", { SnapshotId: s });
    await api("DeleteVms", { VmIds: [vm] });
    await until(async () => (await vmState(vm)) === "terminated");
  });
  it("a guest lost while booting: the VM ends terminated with a reason", async () => {
    osc.faults.slowTransition("vm", 10_000);
    const vm = (await api("CreateVms", { ImageId: osc.baseImageId })).Vms[0].VmId;
    osc.faults.clear();
    expect(await vmState(vm)).toBe("pending");
    await osc.faults.loseGuest(vm);
    await until(async () => (await vmState(vm)) === "terminated");
    expect((await api("ReadVms", { Filters: { VmIds: [vm] } })).Vms[0].StateReason).toMatch(/lost/);
  });
  it("a dropped CreateSecurityGroupRule answers 200 and adds nothing", async () => {
    const sg = (await api("CreateSecurityGroup", { SecurityGroupName: "drop", Description: "d" }))
      .SecurityGroup.SecurityGroupId;
    osc.faults.drop("CreateSecurityGroupRule", 1);
    await api("CreateSecurityGroupRule", {
      SecurityGroupId: sg,
      Flow: "Inbound",
      Rules: [{ FromPortRange: 22, ToPortRange: 22, IpProtocol: "tcp", IpRanges: ["0.0.0.0/0"] }],
    });
    expect(
      (await api("ReadSecurityGroups", { Filters: { SecurityGroupIds: [sg] } })).SecurityGroups[0]
        .InboundRules,
    ).toEqual([]);
    await api("DeleteSecurityGroup", { SecurityGroupId: sg });
  });
  it("nothing is left after the faults", () => {
    expect(osc.leftovers()).toEqual(NOTHING_LEFT);
  });
});
