import { spawnSync } from "node:child_process";
import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { login, request, waitTask } from "./client.js";
import { FakeRunner } from "./runner.js";
import { type PveDouble, startPveDouble } from "./server.js";

let d: PveDouble;
let s: Awaited<ReturnType<typeof login>>;
const runner = new FakeRunner();
const hasQemuImg = spawnSync("sh", ["-c", "command -v qemu-img"]).status === 0;

const api = (method: string, path: string, params?: Record<string, string | number | boolean>) =>
  request(d.url, method, path, { ...s, params });
async function task(method: string, path: string, params?: Record<string, string | number | boolean>) {
  const r = await api(method, path, params);
  expect(r.status, `${method} ${path}: ${r.reason}`).toBe(200);
  const upid = r.body.data as string;
  expect(upid).toMatch(/^UPID:pve:/);
  return waitTask(d.url, "pve", upid, s);
}
const qemuImgInfo = (file: string) =>
  JSON.parse(spawnSync("qemu-img", ["info", "--output=json", file], { encoding: "utf8" }).stdout) as Record<
    string,
    unknown
  >;

beforeAll(async () => {
  d = await startPveDouble({ runner, taskDurationMs: { qmcreate: 300, "*": 20 } });
  s = await login(d.url, d.caCert, "root@pam", "kiln");
});
afterAll(async () => {
  const dir = d?.state.storageDir;
  await d?.close();
  if (dir) expect(fs.existsSync(dir)).toBe(false);
});

describe("VM life cycle", () => {
  test("nextid → create → config → start → sendkey → status → agent → shutdown → template → clone → delete", async () => {
    const next = await api("GET", "/cluster/nextid");
    expect(next.body.data).toBe("100"); // PVE returns the id as a string

    // create: tasks run for a while, then stop with OK
    const cr = await api("POST", "/nodes/pve/qemu", {
      vmid: 100,
      name: "kiln-build",
      memory: 1024,
      cores: 2,
      sockets: 1,
      cpu: "x86-64-v2-AES",
      ostype: "l26",
      bios: "seabios",
      scsihw: "virtio-scsi-single",
      scsi0: "local:2,format=qcow2,discard=on",
      ide2: "none,media=cdrom",
      net0: "virtio,bridge=vmbr0",
      boot: "order=scsi0;ide2",
      agent: "enabled=1",
      tags: "kiln",
    });
    const upid = cr.body.data as string;
    const running = await request(d.url, "GET", `/nodes/pve/tasks/${encodeURIComponent(upid)}/status`, s);
    expect((running.body.data as { status: string }).status).toBe("running");
    const done = await waitTask(d.url, "pve", upid, s);
    expect(done).toMatchObject({
      status: "stopped",
      exitstatus: "OK",
      type: "qmcreate",
      id: "100",
      user: "root@pam",
      node: "pve",
    });
    expect((await api("GET", "/cluster/nextid")).body.data).toBe("101");

    // config: disk allocated as a real qcow2 file, MAC generated
    const conf = (await api("GET", "/nodes/pve/qemu/100/config")).body.data as Record<
      string,
      string | number
    >;
    expect(conf.scsi0).toBe("local:100/vm-100-disk-0.qcow2,discard=on,size=2G");
    expect(conf.net0).toMatch(/^virtio=BC:24:11:[0-9A-F:]{8},bridge=vmbr0$/);
    expect(conf.cores).toBe(2);
    expect(conf.digest).toMatch(/^[0-9a-f]{40}$/);
    const disk = d.state.volumePath("local:100/vm-100-disk-0.qcow2") as string;
    expect(fs.existsSync(disk)).toBe(true);
    if (hasQemuImg)
      expect(qemuImgInfo(disk)).toMatchObject({ format: "qcow2", "virtual-size": 2 * 1024 ** 3 });

    // config update: sync PUT and async POST; delete; digest check
    expect(
      (await api("PUT", "/nodes/pve/qemu/100/config", { description: "built by kiln", delete: "tags" }))
        .status,
    ).toBe(200);
    expect(
      await task("POST", "/nodes/pve/qemu/100/config", { virtio1: "local:1", serial0: "socket" }),
    ).toMatchObject({ exitstatus: "OK" });
    const conf2 = (await api("GET", "/nodes/pve/qemu/100/config")).body.data as Record<string, string>;
    expect(conf2.tags).toBeUndefined();
    expect(conf2.description).toBe("built by kiln");
    expect(conf2.virtio1).toBe("local:100/vm-100-disk-1.qcow2,size=1G");
    const stale = await api("PUT", "/nodes/pve/qemu/100/config", { name: "x", digest: "0".repeat(40) });
    expect(stale.status).toBe(500);
    expect(stale.reason).toMatch(/detected modified configuration/);

    // start
    expect(await task("POST", "/nodes/pve/qemu/100/status/start")).toMatchObject({
      exitstatus: "OK",
      type: "qmstart",
    });
    expect(runner.isRunning(100)).toBe(true);
    const again = await task("POST", "/nodes/pve/qemu/100/status/start");
    expect(again.exitstatus).toBe("VM 100 already running");

    // sendkey: qcodes joined by '-'
    for (const key of ["shift-a", "ret", "ctrl-alt-delete", "minus"])
      expect((await api("PUT", "/nodes/pve/qemu/100/sendkey", { key })).body).toEqual({ data: null });
    expect(runner.vms.get(100)?.keys).toEqual(["shift-a", "ret", "ctrl-alt-delete", "minus"]);
    const badKey = await api("PUT", "/nodes/pve/qemu/100/sendkey", { key: "shift-nokey" });
    expect(badKey.status).toBe(500);

    // status
    const st = (await api("GET", "/nodes/pve/qemu/100/status/current")).body.data as Record<string, unknown>;
    expect(st).toMatchObject({
      vmid: 100,
      status: "running",
      qmpstatus: "running",
      name: "kiln-build",
      agent: 1,
      cpus: 2,
      maxmem: 1024 * 1024 * 1024,
    });

    // guest agent
    const ifs = (await api("GET", "/nodes/pve/qemu/100/agent/network-get-interfaces")).body.data as {
      result: { name: string; "ip-addresses": { "ip-address": string }[] }[];
    };
    expect(ifs.result.find((i) => i.name === "eth0")?.["ip-addresses"][0]?.["ip-address"]).toBe("10.0.2.15");

    // template refused while running; shutdown; template
    expect((await api("POST", "/nodes/pve/qemu/100/template")).reason).toBe(
      "you can't convert a VM to template if VM is running",
    );
    expect(await task("POST", "/nodes/pve/qemu/100/status/shutdown", { timeout: 30 })).toMatchObject({
      exitstatus: "OK",
    });
    expect((await api("GET", "/nodes/pve/qemu/100/status/current")).body.data).toMatchObject({
      status: "stopped",
    });
    expect(await task("POST", "/nodes/pve/qemu/100/template")).toMatchObject({
      exitstatus: "OK",
      type: "qmtemplate",
    });
    const tconf = (await api("GET", "/nodes/pve/qemu/100/config")).body.data as Record<
      string,
      string | number
    >;
    expect(tconf.template).toBe(1);
    expect(tconf.scsi0).toBe("local:100/base-100-disk-0.qcow2,discard=on,size=2G");
    expect((await api("POST", "/nodes/pve/qemu/100/status/start")).reason).toBe(
      "you can't start a vm if it's a template",
    );

    // linked clone (default for templates) and full clone
    expect(await task("POST", "/nodes/pve/qemu/100/clone", { newid: 101, name: "linked" })).toMatchObject({
      exitstatus: "OK",
      type: "qmclone",
    });
    const lconf = (await api("GET", "/nodes/pve/qemu/101/config")).body.data as Record<string, string>;
    expect(lconf.scsi0).toBe("local:100/base-100-disk-0.qcow2/101/vm-101-disk-0.qcow2,discard=on,size=2G");
    expect(lconf.name).toBe("linked");
    expect(lconf.template).toBeUndefined();
    expect(lconf.net0).not.toBe(tconf.net0); // new MAC
    if (hasQemuImg)
      expect(
        String(
          qemuImgInfo(d.state.volumePath(String(lconf.scsi0).split(",")[0] as string) as string)[
            "backing-filename"
          ],
        ),
      ).toMatch(/base-100-disk-0\.qcow2$/);
    expect(
      await task("POST", "/nodes/pve/qemu/100/clone", { newid: 102, name: "full", full: 1 }),
    ).toMatchObject({ exitstatus: "OK" });
    const fconf = (await api("GET", "/nodes/pve/qemu/102/config")).body.data as Record<string, string>;
    expect(fconf.scsi0).toBe("local:102/vm-102-disk-0.qcow2,discard=on,size=2G");
    const taken = await api("POST", "/nodes/pve/qemu/100/clone", { newid: 102 });
    expect(taken.status).toBe(500);
    expect(taken.reason).toBe("VM 102 already exists on node 'pve'");

    // the template cannot go while a linked clone uses its base disk
    const busy = await api("DELETE", "/nodes/pve/qemu/100");
    if (hasQemuImg) expect(busy.status).toBe(500);
    // delete: clones, then the template
    expect(await task("DELETE", "/nodes/pve/qemu/101", { purge: 1 })).toMatchObject({
      exitstatus: "OK",
      type: "qmdestroy",
    });
    expect(
      await task("DELETE", "/nodes/pve/qemu/102", { purge: 1, "destroy-unreferenced-disks": 1 }),
    ).toMatchObject({ exitstatus: "OK" });
    if (busy.status === 200) await waitTask(d.url, "pve", busy.body.data as string, s);
    else
      expect(await task("DELETE", "/nodes/pve/qemu/100", { purge: 1 })).toMatchObject({ exitstatus: "OK" });
    expect((await api("GET", "/nodes/pve/qemu")).body.data).toEqual([]);
    expect(fs.existsSync(disk.replace("vm-100", "base-100"))).toBe(false);
  });

  test("a running VM cannot be deleted; stop then delete", async () => {
    await task("POST", "/nodes/pve/qemu", { vmid: 110, scsi0: "local:1", start: 1 });
    expect(runner.isRunning(110)).toBe(true);
    const r = await api("DELETE", "/nodes/pve/qemu/110");
    expect(r.status).toBe(500);
    expect(r.reason).toBe("VM 110 is running - destroy failed");
    await task("POST", "/nodes/pve/qemu/110/status/stop");
    expect(await task("DELETE", "/nodes/pve/qemu/110")).toMatchObject({ exitstatus: "OK" });
  });

  test("shutdown of a stopped VM fails in the task, like PVE", async () => {
    await task("POST", "/nodes/pve/qemu", { vmid: 111 });
    expect((await task("POST", "/nodes/pve/qemu/111/status/shutdown")).exitstatus).toBe("VM 111 not running");
    const ag = await api("GET", "/nodes/pve/qemu/111/agent/network-get-interfaces");
    expect(ag.reason).toBe("VM 111 is not running");
    await task("POST", "/nodes/pve/qemu/111/status/start");
    const noAgent = await api("GET", "/nodes/pve/qemu/111/agent/network-get-interfaces");
    expect(noAgent.reason).toBe("No QEMU guest agent configured");
    await task("POST", "/nodes/pve/qemu/111/status/stop");
    await task("DELETE", "/nodes/pve/qemu/111");
  });

  test("create with a missing ISO fails in the task and leaves nothing behind", async () => {
    const t = await task("POST", "/nodes/pve/qemu", {
      vmid: 112,
      scsi0: "local:1",
      ide2: "local:iso/missing.iso,media=cdrom",
    });
    expect(t.exitstatus).toBe("unable to create VM 112 - volume 'local:iso/missing.iso' does not exist");
    expect((await api("GET", "/nodes/pve/qemu/112/config")).status).toBe(500);
  });

  test("cluster resources and node list", async () => {
    const res = (await api("GET", "/cluster/resources")).body.data as { type: string; id: string }[];
    expect(res.map((r) => r.id)).toEqual(expect.arrayContaining(["storage/pve/local", "node/pve"]));
    const nodes = (await api("GET", "/nodes")).body.data as { node: string; ssl_fingerprint: string }[];
    expect(nodes[0]).toMatchObject({ node: "pve", status: "online", ssl_fingerprint: d.fingerprint });
  });
});
