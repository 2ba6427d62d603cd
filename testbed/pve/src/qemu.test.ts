import fs from "node:fs";
import path from "node:path";
import { guestIp, samePortForwards } from "@kiln/testbed-guests/testing";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { login, request, uploadFile, waitTask } from "./client.js";
import { packerVmIp } from "./packer-ip.js";
import { QemuRunner } from "./qemu-runner.js";
import { type PveDouble, startPveDouble } from "./server.js";
import { CI, findApplianceDisk, hasTool, sshExec } from "./test-guest.js";

const hasQemu = ["qemu-system-x86_64", "qemu-img"].every(hasTool);
const disk = hasQemu ? await findApplianceDisk() : undefined;
const skip = !hasQemu || !disk;
if (skip) {
  const msg = !hasQemu
    ? "qemu-system-x86_64/qemu-img missing"
    : "no test appliance (run bash testbed/appliance/build.sh)";
  if (CI) throw new Error(`PVE double QEMU test: ${msg}`);
  console.warn(`SKIP PVE double QEMU test: ${msg}`);
}

describe.skipIf(skip)("QemuRunner: real guests behind the API", () => {
  let d: PveDouble;
  let s: Awaited<ReturnType<typeof login>>;
  const runner = new QemuRunner({
    serial: process.env.KILN_PVE_DEBUG ? (vmid, l) => console.log(`[${vmid}] ${l}`) : undefined,
  });
  const api = (method: string, p: string, params?: Record<string, string | number>) =>
    request(d.url, method, p, { ...s, params });

  beforeAll(async () => {
    d = await startPveDouble({ runner, taskDurationMs: 0 });
    s = await login(d.url, d.caCert, "root@pam", "kiln");
  });
  afterAll(async () => {
    await d?.close();
  });

  test("import the appliance disk, boot, reach SSH via the agent's address, sendkey, ACPI shutdown", async () => {
    const cr = await api("POST", "/nodes/pve/qemu", {
      vmid: 100,
      name: "appliance",
      memory: 512,
      cores: 1,
      virtio0: `local:0,import-from=${disk}`,
      net0: "virtio,bridge=vmbr0",
      boot: "order=virtio0",
      agent: 1,
      serial0: "socket",
    });
    expect((await waitTask(d.url, "pve", cr.body.data as string, s)).exitstatus).toBe("OK");
    expect(
      ((await api("GET", "/nodes/pve/qemu/100/config")).body.data as { virtio0: string }).virtio0,
    ).toMatch(/^local:100\/vm-100-disk-0\.qcow2,size=/);
    expect(
      (
        await waitTask(
          d.url,
          "pve",
          (
            await api("POST", "/nodes/pve/qemu/100/status/start")
          ).body.data as string,
          s,
        )
      ).exitstatus,
    ).toBe("OK");

    // the "agent" answers once the guest's SSH server does
    let ifs: { name: string; "ip-addresses": { "ip-address": string }[] }[] | undefined;
    const deadline = Date.now() + 150_000;
    while (Date.now() < deadline) {
      const r = await api("GET", "/nodes/pve/qemu/100/agent/network-get-interfaces");
      if (r.status === 200) {
        ifs = (r.body.data as { result: typeof ifs }).result;
        break;
      }
      expect(r.reason).toBe("QEMU guest agent is not running");
      await new Promise((res) => setTimeout(res, 1000));
    }
    expect(ifs, "guest did not come up").toBeDefined();
    // the VM's own address on eth0 (198.18.0.0/15 on lo as root; not QEMU's 10.0.2.15), no port
    // hint: as root the guest's port 22 is port 22 on that address
    const eth0 = ifs?.find((i) => i.name === "eth0");
    const ip = eth0?.["ip-addresses"][0]?.["ip-address"] as string;
    expect(ip).toMatch(new RegExp(`^${guestIp()}$`));
    expect(ip).not.toBe("127.0.0.1");
    // what Packer's proxmox builder connects to (first IPv4 not in 127/8, any interface) is it:
    // SSH answers there (below). With 127.0.0.N (not root, off CI) Packer would find nothing.
    if (!/^127\./.test(ip)) expect(packerVmIp(ifs ?? [])).toBe(ip);
    else expect(packerVmIp(ifs ?? [])).toBeUndefined();
    expect(ip).toBe(runner.address(100));
    expect(Object.keys(eth0 ?? {}).sort()).toEqual(["hardware-address", "ip-addresses", "name"]);
    const port = d.state.sshEndpoint(100)?.port as number;
    expect(d.state.sshEndpoint(100)).toEqual({ host: ip, port });
    if (await samePortForwards(22)) expect(port).toBe(22);
    expect(await sshExec({ host: ip, port }, { password: "kiln" }, "echo hello-from-$(hostname)")).toMatch(
      /^hello-from-/,
    );

    // keys go to the guest through QMP
    expect((await api("PUT", "/nodes/pve/qemu/100/sendkey", { key: "ret" })).status).toBe(200);

    const sd = await api("POST", "/nodes/pve/qemu/100/status/shutdown", { timeout: 60 });
    expect((await waitTask(d.url, "pve", sd.body.data as string, s, 90_000)).exitstatus).toBe("OK");
    expect((await api("GET", "/nodes/pve/qemu/100/status/current")).body.data).toMatchObject({
      status: "stopped",
    });
    expect(runner.isRunning(100)).toBe(false);
  }, 240_000);

  test("installer ISO uploaded through the API boots from ide2 with disks on scsi/sata; sendkey types at its prompt", async () => {
    const isoPath = path.join(path.dirname(disk as string), "installer.iso");
    const up = await uploadFile(d.url, "/nodes/pve/storage/local/upload", isoPath, { content: "iso" }, s);
    expect((await waitTask(d.url, "pve", up.body.data as string, s)).exitstatus).toBe("OK");
    const cr = await api("POST", "/nodes/pve/qemu", {
      vmid: 101,
      name: "installer",
      memory: 256,
      scsihw: "virtio-scsi-single",
      scsi0: "local:1",
      sata0: "local:1",
      ide2: "local:iso/installer.iso,media=cdrom",
      net0: "e1000,bridge=vmbr0",
      boot: "order=ide2;scsi0",
    });
    expect((await waitTask(d.url, "pve", cr.body.data as string, s)).exitstatus).toBe("OK");
    const start = await api("POST", "/nodes/pve/qemu/101/status/start");
    expect((await waitTask(d.url, "pve", start.body.data as string, s)).exitstatus).toBe("OK");
    const log = runner.serialLog(101) as string;
    const read = () => (fs.existsSync(log) ? fs.readFileSync(log, "utf8") : "");
    const waitFor = async (re: RegExp, ms: number) => {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        if (re.test(read())) return;
        await new Promise((r) => setTimeout(r, 250));
      }
      throw new Error(`serial console never matched ${re}:\n${read()}`);
    };
    await waitFor(/boot: *$/, 60_000);
    for (const key of ["k", "shift-i", "l", "n"])
      expect((await api("PUT", "/nodes/pve/qemu/101/sendkey", { key })).status).toBe(200);
    await waitFor(/boot: *kIln/, 10_000); // ISOLINUX echoes typed keys on the serial console
    const stop = await api("POST", "/nodes/pve/qemu/101/status/stop");
    await waitTask(d.url, "pve", stop.body.data as string, s);
    expect(runner.isRunning(101)).toBe(false);
  }, 120_000);

  test("close() kills running guests", async () => {
    await waitTask(
      d.url,
      "pve",
      (await api("POST", "/nodes/pve/qemu/100/status/start")).body.data as string,
      s,
    );
    expect(runner.isRunning(100)).toBe(true);
    const pid = runner.pid(100) as number;
    expect(fs.readFileSync(`/proc/${pid}/cmdline`, "utf8")).toContain("qemu-system-x86_64");
    await d.close();
    expect(fs.existsSync(`/proc/${pid}`)).toBe(false);
  }, 60_000);
});
