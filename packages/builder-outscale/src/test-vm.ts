/**
 * Test support for the outscale tests whose VMs are real QEMU guests (TCG) of kiln's test
 * appliance: the skip rule, the double's options for such guests (their console lines kept for
 * failure messages), waiting, and a VM booted from an OMI over the OAPI and reached over SSH.
 */

import { ensureImage } from "@kiln/testbed-guests/images";
import { CI, missingQemu, sshRun, testKey } from "@kiln/testbed-guests/testing";
import type { OutscaleDoubleOptions } from "@kiln-testbed/outscale";
import { GuestMachines } from "@kiln-testbed/outscale/guests";
import { expect } from "vitest";
import type { TestDouble } from "./test-double.js";

/** What is missing to run QEMU guests ("" when nothing). */
export const missing = missingQemu();
/** Skip where QEMU is missing — never under CI=true, where the test must fail instead. */
export const noQemu = missing !== "" && !CI;

/** The guests' last console lines, for a failure message. */
export const tail = (consoles: string[], n: number) => consoles.slice(-n).join("\n");

/** The double's options for appliance guests whose console lines go to `consoles`. */
export async function guestDouble(
  consoles: string[],
  more: OutscaleDoubleOptions = {},
): Promise<OutscaleDoubleOptions> {
  const appliance = await ensureImage("appliance");
  return {
    ...more,
    machines: new GuestMachines({
      memoryMiB: appliance.memoryMiB,
      console: (vm, line) => consoles.push(`${vm}| ${line}`),
    }),
    baseImage: { file: appliance.file, format: "qcow2" },
    durations: { vmStart: 0, vmTerminate: 50, image: 50, snapshot: 50, ...more.durations },
  };
}

/** Polls `f` every 500 ms until it holds; throws after `ms`. */
export async function until(f: () => Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((res) => setTimeout(res, 500));
  }
}

export interface TestVm {
  id: string;
  /** Where SSH answers. */
  host: string;
  /** Runs `cmd` as root, expects exit code 0, answers its stdout. */
  ssh(cmd: string): Promise<string>;
}

export interface TestVmOptions {
  /** The guests' console lines, for failure messages. */
  consoles: string[];
  /**
   * In the double's subnet, reached through a public IP linked once it runs (`beforeLink` runs
   * first, with that IP); without it, a VM of the public cloud reached at its own public IP.
   */
  subnet?: { beforeLink?: (ip: string) => Promise<void> };
}

/**
 * A VM of `image` with a key pair and a security group open to 127.0.0.1 on port 22; `run` gets
 * it running and reachable. The VM (waited until terminated), its group, public IP and key pair
 * are deleted after, whatever `run` did.
 */
export async function withVm<T>(
  t: TestDouble,
  image: string,
  how: TestVmOptions,
  run: (vm: TestVm) => Promise<T>,
): Promise<T> {
  const { osc, call } = t;
  const key = testKey();
  await call("CreateKeypair", {
    KeypairName: "check",
    PublicKey: Buffer.from(key.publicKey).toString("base64"),
  });
  const sg = (
    await call("CreateSecurityGroup", {
      SecurityGroupName: "check",
      Description: "check",
      ...(how.subnet ? { NetId: osc.netId } : {}),
    })
  ).SecurityGroup.SecurityGroupId;
  await call("CreateSecurityGroupRule", {
    SecurityGroupId: sg,
    Flow: "Inbound",
    Rules: [{ FromPortRange: 22, ToPortRange: 22, IpProtocol: "tcp", IpRanges: ["127.0.0.1/32"] }],
  });
  const ip = how.subnet ? (await call("CreatePublicIp")).PublicIp : undefined;
  const vm = (
    await call("CreateVms", {
      ImageId: image,
      KeypairName: "check",
      SecurityGroupIds: [sg],
      ...(how.subnet ? { SubnetId: osc.subnetId } : {}),
    })
  ).Vms[0];
  const state = async () => (await call("ReadVms", { Filters: { VmIds: [vm.VmId] } })).Vms[0].State;
  try {
    await until(async () => (await state()) === "running", 120_000);
    if (ip) {
      await how.subnet?.beforeLink?.(ip.PublicIp);
      await call("LinkPublicIp", { PublicIpId: ip.PublicIpId, VmId: vm.VmId });
    }
    const host: string = ip ? ip.PublicIp : vm.PublicIp;
    const ssh = async (cmd: string) => {
      const out = await sshRun({ host, port: 22, user: "root", privateKey: key.privateKey }, cmd, "180s");
      expect(out.exitCode, `${out.stderr}\n${tail(how.consoles, 30)}`).toBe(0);
      return out.stdout;
    };
    return await run({ id: vm.VmId, host, ssh });
  } finally {
    await call("DeleteVms", { VmIds: [vm.VmId] });
    await until(async () => (await state().catch(() => "terminated")) === "terminated", 60_000);
    await call("DeleteSecurityGroup", { SecurityGroupId: sg });
    if (ip) await call("DeletePublicIp", { PublicIpId: ip.PublicIpId });
    await call("DeleteKeypair", { KeypairName: "check" });
  }
}
