import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { login, request, uploadFile, waitTask } from "./client.js";
import { type PveDouble, startPveDouble } from "./server.js";

let d: PveDouble;
let s: Awaited<ReturnType<typeof login>>;
let tmp: string;
let iso: string;
let web: http.Server;
let webUrl: string;
const isoBytes = crypto.randomBytes(3 * 1024 * 1024 + 17); // spans many chunks

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-pve-test-"));
  iso = path.join(tmp, "installer.iso");
  fs.writeFileSync(iso, isoBytes);
  d = await startPveDouble({
    taskDurationMs: 10,
    users: {
      "root@pam": { password: "kiln", privileges: "all" },
      "bob@pve": {
        password: "builder",
        privileges: { "/storage/local": ["Datastore.Audit", "Datastore.AllocateSpace"] },
      },
    },
  });
  s = await login(d.url, d.caCert, "root@pam", "kiln");
  web = http.createServer((req, res) => {
    if (req.url === "/debian.iso") {
      res.writeHead(200, { "Content-Length": isoBytes.length });
      res.end(isoBytes);
    } else if (req.url === "/redirect.iso") {
      res.writeHead(302, { Location: "/debian.iso" });
      res.end();
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((r) => web.listen(0, "127.0.0.1", r));
  webUrl = `http://127.0.0.1:${(web.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await d?.close();
  await new Promise((r) => web?.close(r));
  fs.rmSync(tmp, { recursive: true, force: true });
});

const content = async (params?: Record<string, string | number>) =>
  (await request(d.url, "GET", "/nodes/pve/storage/local/content", { ...s, params })).body.data as {
    volid: string;
    content: string;
    size: number;
    format: string;
    vmid?: number;
  }[];

describe("storage", () => {
  test("multipart ISO upload streams into the storage dir, with checksum; no CSRF needed for uploads", async () => {
    const sha = crypto.createHash("sha256").update(isoBytes).digest("hex");
    const r = await uploadFile(
      d.url,
      "/nodes/pve/storage/local/upload",
      iso,
      { content: "iso", checksum: sha, "checksum-algorithm": "sha256" },
      {
        ca: s.ca,
        ticket: s.ticket,
        filename: "debian 13 (netinst).iso",
      },
    );
    expect(r.status, r.reason).toBe(200);
    const t = await waitTask(d.url, "pve", r.body.data as string, s);
    expect(t).toMatchObject({ exitstatus: "OK", type: "imgcopy" });
    // the name is normalised like PVE does
    const file = d.state.volumePath("local:iso/debian_13__netinst_.iso") as string;
    expect(fs.readFileSync(file).equals(isoBytes)).toBe(true);
    expect(fs.readdirSync(path.join(d.state.storageDir, ".tmp"))).toEqual([]);
  });

  test("content listing filters by type and shows sizes", async () => {
    const isos = await content({ content: "iso" });
    expect(isos).toEqual([
      expect.objectContaining({
        volid: "local:iso/debian_13__netinst_.iso",
        content: "iso",
        format: "iso",
        size: isoBytes.length,
      }),
    ]);
  });

  test("the ISO can be attached to a VM; images are listed per VM", async () => {
    const cr = await request(d.url, "POST", "/nodes/pve/qemu", {
      ...s,
      params: { vmid: 120, scsi0: "local:1", ide2: "local:iso/debian_13__netinst_.iso,media=cdrom" },
    });
    expect((await waitTask(d.url, "pve", cr.body.data as string, s)).exitstatus).toBe("OK");
    const imgs = await content({ content: "images", vmid: 120 });
    expect(imgs).toEqual([
      expect.objectContaining({
        volid: "local:120/vm-120-disk-0.qcow2",
        vmid: 120,
        format: "qcow2",
        size: 1024 ** 3,
      }),
    ]);
    const inUse = await request(
      d.url,
      "DELETE",
      `/nodes/pve/storage/local/content/${encodeURIComponent("local:120/vm-120-disk-0.qcow2")}`,
      s,
    );
    expect(inUse.status).toBe(500);
    expect(inUse.reason).toMatch(/volume is still in use/);
  });

  test("a bad checksum fails the task and leaves no file", async () => {
    const r = await uploadFile(
      d.url,
      "/nodes/pve/storage/local/upload",
      iso,
      { content: "iso", checksum: "00", "checksum-algorithm": "md5" },
      {
        ...s,
        filename: "bad.iso",
      },
    );
    const t = await waitTask(d.url, "pve", r.body.data as string, s);
    expect(t.exitstatus).toMatch(/^checksum mismatch/);
    expect(fs.existsSync(d.state.volumePath("local:iso/bad.iso") as string)).toBe(false);
  });

  test("a wrong extension is a parameter error; a wrong content type is an enum error", async () => {
    const r = await uploadFile(
      d.url,
      "/nodes/pve/storage/local/upload",
      iso,
      { content: "iso" },
      { ...s, filename: "x.exe" },
    );
    expect(r.status).toBe(400);
    expect(r.body.errors).toEqual({ filename: "wrong file extension" });
    const c = await uploadFile(
      d.url,
      "/nodes/pve/storage/local/upload",
      iso,
      { content: "images" },
      { ...s, filename: "x.iso" },
    );
    expect(c.status).toBe(400);
    expect(c.body.errors).toEqual({
      content: "value 'images' does not have a value in the enumeration 'iso, vztmpl, import'",
    });
    expect(fs.readdirSync(path.join(d.state.storageDir, ".tmp"))).toEqual([]);
  });

  test("download-url fetches into the storage (following redirects)", async () => {
    const r = await request(d.url, "POST", "/nodes/pve/storage/local/download-url", {
      ...s,
      params: { url: `${webUrl}/redirect.iso`, content: "iso", filename: "fetched.iso" },
    });
    expect(r.status, r.reason).toBe(200);
    expect(await waitTask(d.url, "pve", r.body.data as string, s)).toMatchObject({
      exitstatus: "OK",
      type: "download",
    });
    expect(fs.readFileSync(d.state.volumePath("local:iso/fetched.iso") as string).equals(isoBytes)).toBe(
      true,
    );
    const missing = await request(d.url, "POST", "/nodes/pve/storage/local/download-url", {
      ...s,
      params: { url: `${webUrl}/nope.iso`, content: "iso", filename: "nope.iso" },
    });
    expect((await waitTask(d.url, "pve", missing.body.data as string, s)).exitstatus).toMatch(/404/);
  });

  test("deleting content: by full volid or storage-relative name; missing volumes are errors", async () => {
    const r = await request(
      d.url,
      "DELETE",
      `/nodes/pve/storage/local/content/${encodeURIComponent("local:iso/fetched.iso")}`,
      s,
    );
    expect(r.status).toBe(200);
    expect((await waitTask(d.url, "pve", r.body.data as string, s)).exitstatus).toBe("OK");
    const rel = await request(
      d.url,
      "DELETE",
      `/nodes/pve/storage/local/content/${encodeURIComponent("iso/debian_13__netinst_.iso")}`,
      s,
    );
    await waitTask(d.url, "pve", rel.body.data as string, s);
    expect(await content({ content: "iso" })).toEqual([]);
    const gone = await request(
      d.url,
      "DELETE",
      `/nodes/pve/storage/local/content/${encodeURIComponent("local:iso/fetched.iso")}`,
      s,
    );
    expect(gone.status).toBe(500);
    expect(gone.reason).toBe("volume 'local:iso/fetched.iso' does not exist");
  });

  test("unknown storage", async () => {
    const r = await request(d.url, "GET", "/nodes/pve/storage/nfs1/content", s);
    expect(r.status).toBe(500);
    expect(r.reason).toBe("storage 'nfs1' does not exist");
  });

  test("privileges: Datastore.AllocateSpace is not enough to upload ISOs", async () => {
    const b = await login(d.url, d.caCert, "bob@pve", "builder");
    expect((await request(d.url, "GET", "/nodes/pve/storage/local/content", b)).status).toBe(200);
    const r = await uploadFile(d.url, "/nodes/pve/storage/local/upload", iso, { content: "iso" }, b);
    expect(r.status).toBe(403);
    expect(r.reason).toBe("Permission check failed (/storage/local, Datastore.AllocateTemplate)");
  });
});
