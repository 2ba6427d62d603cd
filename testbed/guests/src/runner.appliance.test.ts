/**
 * The runner with real QEMU guests of the test appliance (boots in seconds): its own address
 * (198.18.0.0/15, on lo while it runs, where this process may add addresses: as root) with port
 * 22 there, the seed's key, console log, QMP disk hot-plug seen inside the
 * guest, ACPI shutdown → onExit, hard stop, and nothing left after close.
 * Run under `flock /tmp/kiln-qemu.lock`. Skips without QEMU, except under CI=true.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { AgentNotRunningError } from "./agent.js";
import { createDisk } from "./disks.js";
import type { Guest, GuestExit } from "./guest.js";
import { type BaseImage, ensureImage } from "./images.js";
import { inCidr } from "./ipv4.js";
import { ipLo, KILN_LO_LABEL, loUnavailable } from "./lo.js";
import { greets } from "./probe.js";
import { GuestRunner } from "./runner.js";
import { cloudConfig } from "./seed.js";
import { CI, missingQemu, samePortForwards, sshRun, testKey } from "./testing.js";

const missing = missingQemu();
if (missing && CI) throw new Error(`guests: ${missing}`);
if (missing) console.warn(`SKIP guests appliance test: ${missing}`);

const alive = (pid: number | undefined) => {
  try {
    return pid !== undefined && process.kill(pid, 0);
  } catch {
    return false;
  }
};

const port22 = await samePortForwards(22);
// as root (always under CI=true) guests get 198.18.0.0/15 addresses on lo, else 127.0.0.N
const noLo = loUnavailable();
if (noLo && CI) throw new Error(`guests: cannot add addresses to lo: ${noLo}`);
const onLo = (a: string) => !noLo && ipLo.list().some((x) => x.address === a && x.label === KILN_LO_LABEL);

describe.skipIf(!!missing)("GuestRunner with the appliance", () => {
  let img: BaseImage;
  let runner: GuestRunner;
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "guests-test-"));
  const key = testKey();

  beforeAll(async () => {
    img = await ensureImage("appliance");
    runner = new GuestRunner({
      console: process.env.KILN_GUESTS_DEBUG ? (n, l) => console.log(`[${n}] ${l}`) : undefined,
    });
  }, 600_000);
  afterAll(async () => {
    await runner?.close();
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  test("hard stop of a guest that never booted: reason stopped, its files and address gone", async () => {
    const g = await runner.start({ name: "empty", nics: [], disks: [] });
    expect(runner.list().map((i) => i.name)).toEqual(["empty"]);
    const claim = path.join(runner.addresses.dir, g.address);
    expect(fs.existsSync(claim)).toBe(true);
    expect(onLo(g.address)).toBe(!noLo);
    const e = await g.stop();
    expect(e.reason).toBe("stopped");
    expect(alive(g.pid)).toBe(false);
    expect(fs.existsSync(claim)).toBe(false);
    expect(onLo(g.address)).toBe(false);
    expect(
      fs.readdirSync(runner.runDir).filter((f) => f.startsWith("empty.") && !f.endsWith(".console.log")),
    ).toEqual([]);
    expect(runner.list()).toEqual([]);
  });

  test("boot from an overlay with a seed, SSH on the guest's address, hot-plug, ACPI shutdown", async () => {
    const exits: [string, GuestExit][] = [];
    runner.onExit((g, e) => exits.push([g.name, e]));
    const t0 = Date.now();
    const g: Guest = await runner.start({
      name: "app1",
      memoryMiB: img.memoryMiB,
      disks: [{ file: img.file, overlay: true, bootIndex: 1 }],
      seed: { userData: cloudConfig({ hostname: "guest-one", sshAuthorizedKeys: [key.publicKey] }) },
      forward: [22, 80],
    });
    if (noLo) expect(g.address).toMatch(/^127\.0\.0\.(\d+)$/);
    else {
      expect(inCidr(g.address, "198.18.0.0/15")).toBe(true); // not loopback: clients do not skip it
      expect(onLo(g.address)).toBe(true);
    }
    expect(g.address).not.toBe("127.0.0.1");
    if (port22) expect(g.port(22)).toBe(22); // 22 on its own address, where this process may bind it
    expect(() => g.port(443)).toThrow(/not forwarded/);
    const info = runner.list()[0];
    expect(info?.disks.map((d) => [d.id, d.format, d.media])).toEqual([
      ["disk0", "qcow2", "disk"],
      ["seed", "raw", "cdrom"],
    ]);
    const overlay = info?.disks[0]?.file as string;
    expect(overlay).not.toBe(img.file);
    expect(fs.existsSync(overlay)).toBe(true);

    await g.waitForConsole(img.ready, 180_000);
    await g.waitForPort(22, 60_000);
    const bootMs = Date.now() - t0;
    console.log(`appliance: power-on to SSH greeting ${bootMs} ms`);
    expect(await greets(g.address, g.port(80), /./, 500)).toBe(false); // nothing serves :80 in the guest
    expect(g.console()).toMatch(/KILN-CIDATA: applied/);

    const ssh = { ...g.endpoint(), user: img.user, privateKey: key.privateKey };
    const r = await sshRun(ssh, "hostname; cat /proc/partitions");
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^guest-one\n/);
    expect(r.stdout).not.toMatch(/\bvdb\b/);
    await expect(g.agent("ping", undefined, 1000)).rejects.toBeInstanceOf(AgentNotRunningError);

    // hot-plug a 64 MiB disk: the guest sees vdb; unplug: it is gone again
    const data = await createDisk(path.join(scratch, "data.qcow2"), 64 * 1024 * 1024);
    const d = await g.attachDisk({ file: data, id: "data1" });
    expect(d).toMatchObject({ id: "data1", bus: "virtio", format: "qcow2" });
    const until = async (cmd: string, re: RegExp) => {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const o = (await sshRun(ssh, cmd)).stdout;
        if (re.test(o) || Date.now() > deadline) return o;
        await new Promise((res) => setTimeout(res, 500));
      }
    };
    expect(await until("cat /proc/partitions", /\bvdb\b/)).toMatch(/\s65536 vdb\b/); // 1 KiB blocks
    await sshRun(ssh, "echo written-by-guest > /dev/vdb; sync");
    await g.detachDisk("data1");
    expect(await until("cat /proc/partitions", /^(?![\s\S]*\bvdb\b)/)).not.toMatch(/\bvdb\b/);
    expect(g.disks().map((x) => x.id)).toEqual(["disk0", "seed"]);
    expect(fs.readFileSync(data).includes("written-by-guest")).toBe(true);

    const claim = path.join(runner.addresses.dir, g.address);
    const e = await g.shutdown(60_000);
    expect(e.reason).toBe("poweroff");
    expect(exits).toEqual([["app1", e]]);
    expect(fs.existsSync(overlay)).toBe(false);
    expect(fs.existsSync(claim)).toBe(false);
    expect(onLo(g.address)).toBe(false);
    expect(g.console()).toMatch(/KILN-POWERBUTTON/);
  }, 400_000);

  test("close() kills what runs and removes every file", async () => {
    const g = await runner.start({ name: "left", disks: [{ file: img.file, overlay: true }] });
    const dir = runner.runDir;
    const claim = path.join(runner.addresses.dir, g.address);
    expect(alive(g.pid)).toBe(true);
    expect(onLo(g.address)).toBe(!noLo);
    await runner.close();
    expect(alive(g.pid)).toBe(false);
    expect((await g.exited).reason).toBe("killed");
    expect(fs.existsSync(dir)).toBe(false);
    expect(fs.existsSync(claim)).toBe(false);
    expect(onLo(g.address)).toBe(false);
    await expect(runner.start({ name: "late" })).rejects.toThrow(/closed/);
  });
});
