/**
 * What other PVE clients rely on besides kiln: the node's storages (local and local-lvm), disk
 * allocation through POST …/storage/{storage}/content, LVM-thin volumes through create,
 * template and clone, config values as PVE prints and types them, the default boot order, and
 * the guest agent routes (FakeRunner's simulated agent; the real one in packages/builder-proxmox/src/cloud-init.e2e.test.ts).
 */
import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { login, request, waitTask } from "./client.js";
import { FakeRunner } from "./runner.js";
import { type PveDouble, startPveDouble } from "./server.js";

let d: PveDouble;
let s: Awaited<ReturnType<typeof login>>;
const runner = new FakeRunner();
type P = Record<string, string | number>;
const api = (method: string, p: string, params?: P) => request(d.url, method, p, { ...s, params });
const task = async (method: string, p: string, params?: P) => {
  const r = await api(method, p, params);
  expect(r.status, `${method} ${p}: ${r.reason}`).toBe(200);
  return waitTask(d.url, "pve", r.body.data as string, s);
};
const config = async (vmid: number) =>
  (await api("GET", `/nodes/pve/qemu/${vmid}/config`)).body.data as Record<string, string | number>;

beforeAll(async () => {
  d = await startPveDouble({
    runner,
    taskDurationMs: 0,
    users: {
      "root@pam": { password: "kiln", privileges: "all" },
      "audit@pve": { password: "audit", privileges: ["VM.Audit", "VM.GuestAgent.Audit"] },
    },
  });
  s = await login(d.url, d.caCert, "root@pam", "kiln");
});
afterAll(async () => {
  await d?.close();
});

describe("storages", () => {
  test("GET /nodes/{node}/storage: local (dir) and local-lvm (lvmthin), filtered by content", async () => {
    const all = (await api("GET", "/nodes/pve/storage")).body.data as Record<string, unknown>[];
    expect(all.map((x) => [x.storage, x.type, x.content, x.active])).toEqual([
      ["local", "dir", "images,import,iso,vztmpl", 1],
      ["local-lvm", "lvmthin", "images,rootdir", 1],
    ]);
    expect(typeof all[0]?.total).toBe("number");
    const iso = (await api("GET", "/nodes/pve/storage", { content: "iso" })).body.data as {
      storage: string;
    }[];
    expect(iso.map((x) => x.storage)).toEqual(["local"]);
    const res = (await api("GET", "/cluster/resources", { type: "storage" })).body.data as { id: string }[];
    expect(res.map((x) => x.id)).toEqual(["storage/pve/local", "storage/pve/local-lvm"]);
  });

  test("POST …/content allocates a disk: size in KiB or with a suffix, the name's extension is the format", async () => {
    const a = await api("POST", "/nodes/pve/storage/local/content", {
      vmid: 300,
      filename: "vm-300-disk-5.qcow2",
      size: "64M",
    });
    expect(a.status, a.reason).toBe(200);
    expect(a.body.data).toBe("local:300/vm-300-disk-5.qcow2");
    const lv = await api("POST", "/nodes/pve/storage/local-lvm/content", {
      vmid: 300,
      filename: "vm-300-disk-1",
      size: 32768,
    });
    expect(lv.body.data).toBe("local-lvm:vm-300-disk-1");
    expect(fs.existsSync(d.state.volumePath("local-lvm:vm-300-disk-1") as string)).toBe(true);
    const listed = (await api("GET", "/nodes/pve/storage/local-lvm/content")).body.data as Record<
      string,
      unknown
    >[];
    expect(listed).toEqual([
      expect.objectContaining({
        volid: "local-lvm:vm-300-disk-1",
        format: "raw",
        size: 32 * 1024 * 1024,
        vmid: 300,
      }),
    ]);
    const local = (await api("GET", "/nodes/pve/storage/local/content", { content: "images" })).body.data as {
      volid: string;
      size: number;
    }[];
    expect(local.find((x) => x.volid === "local:300/vm-300-disk-5.qcow2")?.size).toBe(64 * 1024 * 1024);

    const bad = async (storage: string, params: P) =>
      (await api("POST", `/nodes/pve/storage/${storage}/content`, { vmid: 300, size: "1G", ...params }))
        .reason;
    expect(await bad("local", { filename: "vm-301-disk-0.raw" })).toBe(
      "illegal name 'vm-301-disk-0.raw' - should be 'vm-300-*'",
    );
    expect(await bad("local", { filename: "vm-300-disk-7.raw", format: "qcow2" })).toBe(
      "Parameter verification failed.",
    );
    expect(await bad("local", { filename: "vm-300-disk-5.qcow2" })).toMatch(
      /^disk image '.*vm-300-disk-5\.qcow2' already exists$/,
    );
    expect(await bad("local-lvm", { filename: "vm-300-disk-2", format: "qcow2" })).toBe(
      "unsupported format 'qcow2'",
    );
    expect(await bad("nope", { filename: "vm-300-disk-2" })).toBe("storage 'nope' does not exist");
    const sz = await api("POST", "/nodes/pve/storage/local/content", {
      vmid: 300,
      filename: "vm-300-disk-8.raw",
      size: "lots",
    });
    expect(sz.body.errors).toEqual({ size: "value does not match the regex pattern" }); // the schema's \d+[MG]?
    const del = await task("DELETE", "/nodes/pve/storage/local-lvm/content/local-lvm:vm-300-disk-1");
    expect(del.exitstatus).toBe("OK");
    expect(fs.existsSync(d.state.volumePath("local-lvm:vm-300-disk-1") as string)).toBe(false);
  });

  test("ISOs do not go to local-lvm", async () => {
    const r = await api("POST", "/nodes/pve/storage/local-lvm/download-url", {
      content: "iso",
      filename: "x.iso",
      url: "http://127.0.0.1:1/x.iso",
    });
    expect(r.reason).toBe("storage 'local-lvm' does not support content-type 'iso'");
  });
});

describe("VMs on local-lvm; config as PVE writes and types it", () => {
  test("create: volumes allocated, drives and NICs printed canonically, default boot order, numbers", async () => {
    expect(
      (
        await task("POST", "/nodes/pve/qemu", {
          vmid: 310,
          name: "lvm",
          scsi0: "local-lvm:1,ssd=1,discard=on,cache=writeback",
          ide2: "local-lvm:cloudinit",
          ide0: "none,media=cdrom",
          net0: "virtio,firewall=1,bridge=vmbr0",
          cores: 2,
          numa: 0,
          kvm: 1,
          onboot: "1",
          agent: "1",
          memory: "1024",
        })
      ).exitstatus,
    ).toBe("OK");
    const c = await config(310);
    expect(c.scsi0).toBe("local-lvm:vm-310-disk-0,cache=writeback,discard=on,size=1G,ssd=1");
    expect(c.ide2).toBe("local-lvm:vm-310-cloudinit,media=cdrom");
    expect(c.ide0).toBe("none,media=cdrom");
    expect(c.net0).toMatch(/^virtio=BC:24:11:[0-9A-F:]{8},bridge=vmbr0,firewall=1$/);
    expect(c.boot).toBe("order=scsi0;ide0;net0"); // first disk, first CD-ROM (ide0 before ide2), NICs
    expect([c.cores, c.numa, c.kvm, c.onboot]).toEqual([2, 0, 1, 1]);
    expect([c.memory, c.agent]).toEqual(["1024", "1"]); // property strings stay strings
    // the thin volume is real: a 1 GiB disk, the cloud-init volume an ISO written at start
    expect(runner.vms.size).toBe(0);
    await task("POST", "/nodes/pve/qemu/310/status/start");
    expect(runner.vms.get(310)?.spec.drives.find((x) => x.key === "scsi0")).toMatchObject({
      format: "qcow2",
      media: "disk",
    });
    await task("POST", "/nodes/pve/qemu/310/status/stop");
  });

  test("no devices, no boot; an explicit boot is kept", async () => {
    await task("POST", "/nodes/pve/qemu", { vmid: 311, memory: 128 });
    expect((await config(311)).boot).toBeUndefined();
    await task("POST", "/nodes/pve/qemu", {
      vmid: 312,
      virtio0: "local:1",
      net0: "virtio",
      boot: "order=net0",
    });
    expect((await config(312)).boot).toBe("order=net0");
    await task("POST", "/nodes/pve/qemu", {
      vmid: 313,
      sata1: "local:1",
      virtio0: "local:1",
      net1: "e1000",
      net0: "virtio",
    });
    expect((await config(313)).boot).toBe("order=sata1;net0;net1");
  });

  test("template and linked clone on local-lvm; a full clone to local as qcow2", async () => {
    await task("POST", "/nodes/pve/qemu/310/template");
    expect((await config(310)).scsi0).toBe(
      "local-lvm:base-310-disk-0,cache=writeback,discard=on,size=1G,ssd=1",
    );
    await task("POST", "/nodes/pve/qemu/310/clone", { newid: 320, name: "linked" });
    const linked = await config(320);
    expect(linked.scsi0).toBe(
      "local-lvm:base-310-disk-0/vm-320-disk-0,cache=writeback,discard=on,size=1G,ssd=1",
    );
    expect(linked.ide2).toBe("local-lvm:vm-320-cloudinit,media=cdrom,size=4M");
    const lv = (await api("GET", "/nodes/pve/storage/local-lvm/content", { vmid: 320 })).body.data as Record<
      string,
      unknown
    >[];
    expect(lv.find((x) => x.volid === "local-lvm:base-310-disk-0/vm-320-disk-0")).toMatchObject({
      parent: "base-310-disk-0",
      format: "raw",
    });
    expect(
      (await api("POST", "/nodes/pve/qemu/310/clone", { newid: 321, storage: "local" })).body.errors,
    ).toEqual({
      storage: "option is only allowed for full clones",
    });
    await task("POST", "/nodes/pve/qemu/310/clone", {
      newid: 321,
      full: 1,
      storage: "local",
      format: "qcow2",
    });
    expect((await config(321)).scsi0).toBe(
      "local:321/vm-321-disk-0.qcow2,cache=writeback,discard=on,size=1G,ssd=1",
    );
    expect((await api("DELETE", "/nodes/pve/qemu/310")).reason).toBe(
      "base volume of VM 310 is still in use by linked cloned VM 320",
    );
    await task("DELETE", "/nodes/pve/qemu/320");
    expect(fs.existsSync(d.state.volumePath("local-lvm:vm-320-disk-0") as string)).toBe(false);
    await task("DELETE", "/nodes/pve/qemu/310");
    expect((await api("GET", "/nodes/pve/storage/local-lvm/content")).body.data).toEqual([]);
  });
});

describe("guest agent routes", () => {
  test("each command answers {result}; PVE's checks and the agent's errors", async () => {
    await task("POST", "/nodes/pve/qemu", {
      vmid: 330,
      name: "agent",
      virtio0: "local:1",
      net0: "virtio",
      agent: 1,
    });
    expect((await api("POST", "/nodes/pve/qemu/330/agent/ping")).reason).toBe("VM 330 is not running");
    await task("POST", "/nodes/pve/qemu/330/status/start");
    expect((await api("POST", "/nodes/pve/qemu/330/agent/ping")).body.data).toEqual({ result: {} });
    expect((await api("GET", "/nodes/pve/qemu/330/agent/get-osinfo")).body.data).toMatchObject({
      result: { id: "debian" },
    });
    expect((await api("POST", "/nodes/pve/qemu/330/agent/fsfreeze-freeze")).body.data).toEqual({ result: 1 });
    expect((await api("POST", "/nodes/pve/qemu/330/agent/fsfreeze-status")).body.data).toEqual({
      result: "frozen",
    });
    expect((await api("POST", "/nodes/pve/qemu/330/agent/fsfreeze-thaw")).body.data).toEqual({ result: 1 });
    expect(
      (await api("POST", "/nodes/pve/qemu/330/agent", { command: "fsfreeze-status" })).body.data,
    ).toEqual({
      result: "thawed",
    });
    expect((await api("GET", "/nodes/pve/qemu/330/agent/get-vcpus")).reason).toBe(
      "Agent error: The command guest-get-vcpus has not been found",
    );
    expect((await api("POST", "/nodes/pve/qemu/330/agent", { command: "rm-rf" })).status).toBe(400);
    const idx = (await api("GET", "/nodes/pve/qemu/330/agent")).body.data as { name: string }[];
    expect(idx.map((x) => x.name)).toContain("network-get-interfaces");
    // privileges from the schema: audit may read, not freeze
    const a = await login(d.url, d.caCert, "audit@pve", "audit");
    expect((await request(d.url, "GET", "/nodes/pve/qemu/330/agent/get-osinfo", a)).status).toBe(200);
    expect((await request(d.url, "POST", "/nodes/pve/qemu/330/agent/fsfreeze-freeze", a)).status).toBe(403);
    // shutdown through the agent: the guest powers off
    expect((await api("POST", "/nodes/pve/qemu/330/agent/shutdown")).body.data).toEqual({ result: null });
    await new Promise((r) => setTimeout(r, 50));
    expect(
      ((await api("GET", "/nodes/pve/qemu/330/status/current")).body.data as { status: string }).status,
    ).toBe("stopped");
    await task("POST", "/nodes/pve/qemu", { vmid: 331, virtio0: "local:1" });
    await task("POST", "/nodes/pve/qemu/331/status/start");
    expect((await api("GET", "/nodes/pve/qemu/331/agent/info")).reason).toBe(
      "No QEMU guest agent configured",
    );
  });
});
