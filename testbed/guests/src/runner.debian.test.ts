/**
 * The runner with the Debian image (one boot, ~60 s under TCG): cloud-init reads the seed, SSH
 * on the guest's own address and port 22, and the real qemu-guest-agent over virtio-serial —
 * ping, network-get-interfaces (the NIC's MAC and QEMU's 10.0.2.15, shown to the host as the
 * guest's own address by hostView), get-osinfo, fsfreeze, and guest-shutdown → poweroff.
 * Run under `flock /tmp/kiln-qemu.lock`. Skips without QEMU or the image's build tools, except under CI=true.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { AgentCommandError } from "./agent.js";
import { type AgentInterface, hostView } from "./host-view.js";
import { type BaseImage, ensureImage, imageUnavailable } from "./images.js";
import { macFor } from "./qemu-args.js";
import { GuestRunner } from "./runner.js";
import { cloudConfig } from "./seed.js";
import { CI, missingQemu, samePortForwards, sshRun, testKey } from "./testing.js";

const missing = missingQemu() || imageUnavailable("debian");
if (missing && CI) throw new Error(`guests Debian test: ${missing}`);
if (missing) console.warn(`SKIP guests Debian test: ${missing}`);

const port22 = await samePortForwards(22);

describe.skipIf(!!missing)("GuestRunner with the Debian image: the real guest agent", () => {
  let img: BaseImage;
  let runner: GuestRunner;
  const key = testKey();

  beforeAll(async () => {
    img = await ensureImage("debian");
    runner = new GuestRunner({
      console: process.env.KILN_GUESTS_DEBUG ? (n, l) => console.log(`[${n}] ${l}`) : undefined,
    });
  }, 900_000);
  afterAll(async () => {
    await runner?.close();
  });

  test("cloud-init seed, SSH on port 22 of the guest's address, agent calls, agent shutdown", async () => {
    const t0 = Date.now();
    const g = await runner.start({
      name: "deb1",
      memoryMiB: img.memoryMiB,
      disks: [{ file: img.file, overlay: true, bootIndex: 1 }],
      seed: { userData: cloudConfig({ hostname: "deb-one", sshAuthorizedKeys: [key.publicKey] }) },
    });
    await g.waitForAgent(240_000);
    const agentMs = Date.now() - t0;
    await g.waitForPort(22, 120_000);
    const sshMs = Date.now() - t0;
    const ssh = { ...g.endpoint(), user: img.user, privateKey: key.privateKey };
    const r = await sshRun(ssh, "hostname; systemctl is-active qemu-guest-agent");
    console.log(
      `debian: power-on to agent ${agentMs} ms, to SSH greeting ${sshMs} ms, to a command ${Date.now() - t0} ms`,
    );
    expect(r.stdout).toBe("deb-one\nactive\n");
    if (port22) expect(g.port(22)).toBe(22);

    expect(await g.agent("ping")).toEqual({});
    const ifs = await g.agent<AgentInterface[]>("network-get-interfaces");
    const mac = macFor(g.address);
    const nic = ifs.find((i) => i["hardware-address"] === mac);
    expect(nic, JSON.stringify(ifs)).toBeDefined();
    expect(nic?.["ip-addresses"]?.find((a) => a["ip-address-type"] === "ipv4")?.["ip-address"]).toBe(
      "10.0.2.15",
    );
    expect(ifs.find((i) => i.name === "lo")?.["ip-addresses"]?.[0]?.["ip-address"]).toBe("127.0.0.1");
    const seen = hostView(ifs, { mac, address: g.address });
    expect(seen.find((i) => i.name === nic?.name)?.["ip-addresses"]?.[0]).toEqual({
      "ip-address": g.address,
      "ip-address-type": "ipv4",
      prefix: g.address.startsWith("127.") ? 8 : 24, // 198.18.0.0/15 (as root): a LAN's /24
    });

    const os = await g.agent<{ id: string; "version-id": string }>("get-osinfo");
    expect(os).toMatchObject({ id: "debian", "version-id": "12" });
    expect(await g.agent("fsfreeze-status")).toBe("thawed");
    const frozen = await g.agent<number>("fsfreeze-freeze");
    expect(frozen).toBeGreaterThan(0);
    expect(await g.agent("fsfreeze-status")).toBe("frozen");
    expect(await g.agent("fsfreeze-thaw")).toBe(frozen);
    await expect(g.agent("no-such-command")).rejects.toBeInstanceOf(AgentCommandError);

    const e0 = Date.now();
    await g.agent("shutdown");
    const e = await g.exited;
    console.log(`debian: agent shutdown to QEMU exit ${Date.now() - e0} ms`);
    expect(e.reason).toBe("poweroff");
    expect(runner.list()).toEqual([]);
  }, 600_000);
});
