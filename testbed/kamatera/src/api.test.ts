/**
 * The double's API logic with the in-memory machine host: auth, the create rules and answers,
 * the queue, power, terminate, disks and clones to the library, the catalog, and every fault —
 * each ending with the double's own answers conforming to the contract.
 */
import fs from "node:fs";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { request, waitCommand } from "./client.js";
import { MemoryHost } from "./memory-host.js";
import { type KamateraDouble, startKamateraDouble } from "./server.js";
import { createServerBody, KEY } from "./test-requests.js";

let d: KamateraDouble;
let host: MemoryHost;
let auth: { clientId: string; secret: string };

const post = (path: string, body: Record<string, unknown>) => request(d.url, "POST", path, { auth, body });
const get = (path: string, query: Record<string, string> = {}) =>
  request(d.url, "GET", path, { auth, query });

let n = 0;
const createBody = (extra: Record<string, unknown> = {}) =>
  createServerBody(`kiln-test-${++n}`, "kiln_appliance_64-bit", { "ssh-key": KEY, ...extra });

async function created(extra: Record<string, unknown> = {}): Promise<string> {
  const body = createBody(extra);
  const r = await post("/service/server", body);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  const ids = Array.isArray(r.body) ? r.body : (r.body as { commandIds: string[] }).commandIds;
  const done = await waitCommand(d.url, auth, ids[0] as string);
  expect(done.status).toBe("complete");
  return /Name: (\S+)/.exec(done.log ?? "")?.[1] ?? (body.name as string);
}

async function terminate(name: string) {
  const r = await post("/service/server/terminate", { name, force: true });
  expect(r.status).toBe(200);
  for (const id of r.body as string[]) expect((await waitCommand(d.url, auth, id)).status).toBe("complete");
}

beforeAll(async () => {
  host = new MemoryHost({ shutdownMs: 10 });
  d = await startKamateraDouble({ host, commandDurationMs: 20, appDebug: true });
  auth = { clientId: d.clientId, secret: d.secret };
});
afterEach(() => d.faults.clear());
afterAll(async () => {
  const violations = [...d.account.contractViolations];
  await d.close();
  expect(violations).toEqual([]);
});

describe("auth", () => {
  it("a wrong or missing secret is 401 with a message on every path, and the secret is never kept", async () => {
    const bad = { clientId: d.clientId, secret: "wrong-secret-value" };
    for (const [method, path, body] of [
      ["GET", "/service/servers", undefined],
      ["GET", "/service/queue?id=1", undefined],
      ["POST", "/service/server", createBody()],
      ["POST", "/service/server/info", { name: "x" }],
      ["POST", "/server/hdlib", { name: "x" }],
      ["GET", "/service/server", undefined],
    ] as const) {
      const r = await request(d.url, method, path, { auth: bad, ...(body ? { body } : {}) });
      expect([method, path, r.status]).toEqual([method, path, 401]);
      expect(r.body).toEqual({ message: "Authentication failed" });
      expect((await request(d.url, method, path, body ? { body } : {})).status).toBe(401);
    }
    expect(JSON.stringify(d.account.requests)).not.toContain("wrong-secret-value");
    expect(JSON.stringify(d.account.requests)).not.toContain(d.secret);
  });

  it("X-CLOUDCLI-STATUSINJSON: every answer is a 200 {response, status}", async () => {
    const r = await request(d.url, "GET", "/service/servers", {
      auth: { ...auth, secret: "nope" },
      headers: { "X-CLOUDCLI-STATUSINJSON": "true" },
    });
    expect(r).toMatchObject({
      status: 200,
      body: { response: { message: "Authentication failed" }, status: 401 },
    });
  });
});

describe("create", () => {
  it("__generate__ answers {commandIds, password} with the proxy's recipe; the server is listed at once, on when done", async () => {
    d.faults.slowCommands("create", 600);
    const body = createBody();
    const r = await post("/service/server", body);
    expect(r.status).toBe(200);
    const { commandIds, password } = r.body as { commandIds: string[]; password: string };
    expect(commandIds).toEqual([expect.stringMatching(/^\d+$/)]);
    expect(password).toMatch(/^[a-z]{7}[A-Z]{7}[0-9]{4}[!@#$^&*()~]{2}$/);
    const listed = (await get("/service/servers")).body as Array<{ name: string; power: string }>;
    expect(listed.find((s) => s.name === body.name)?.power).toBe("off");
    const q = (await get("/service/queue", { id: commandIds[0] as string })).body as Array<{
      status: string;
    }>;
    expect(["pending", "running"]).toContain(q[0]?.status);
    const done = await waitCommand(d.url, auth, commandIds[0] as string);
    expect(done.log).toContain(`Name: ${body.name}`);
    const [info] = (await post("/service/server/info", { name: body.name })).body as Array<
      Record<string, unknown>
    >;
    expect(info).toMatchObject({
      name: body.name,
      power: "on",
      cpu: "1A",
      ram: 1024,
      diskSizes: [10],
      billing: "hourly",
    });
    const m = [...host.machines.values()].find((x) => x.spec.name === body.name);
    expect(m?.spec.seed).toMatchObject({ sshKeys: [KEY], password });
    expect(m?.running()).toBe(true);
    await terminate(body.name);
  });

  it("with an ssh-key and no password: a plain array; two servers get distinct external IPs", async () => {
    const a = createBody({ password: "", passwordValidate: "" });
    const r = await post("/service/server", a);
    expect(r.body).toEqual([expect.any(String)]);
    await waitCommand(d.url, auth, (r.body as string[])[0] as string);
    const b = await created();
    const ipOf = async (name: string) =>
      ((await post("/service/server/ssh", { name })).body as Array<{ externalIp: string }>)[0]?.externalIp;
    const [ipa, ipb] = [await ipOf(a.name), await ipOf(b)];
    expect(ipa).toMatch(/^203\.0\.113\.\d+$/); // TEST-NET-3: a cloud never hands out 127.x
    expect(ipb).toMatch(/^203\.0\.113\.\d+$/);
    expect(ipa).not.toBe(ipb);
    await terminate(a.name);
    await terminate(b);
  });

  it("the proxy's refusals: missing flag, item ids, billing cycle, unknown image (listing the images with APP_DEBUG)", async () => {
    const { datacenter: _, ...noDc } = createBody();
    expect(await post("/service/server", noDc)).toMatchObject({
      status: 400,
      body: { message: "missing required flag (datacenter)" },
    });
    expect((await post("/service/server", createBody({ disk: "size=10 id=4,size=5" }))).body).toEqual({
      message: "invalid item id: 4 (disk=size=10 id=4,size=5)",
    });
    expect(await post("/service/server", createBody({ billingcycle: "weekly" }))).toMatchObject({
      status: 500,
      body: { message: "Failed to run command method (createServer)" },
    });
    const img = await post("/service/server", createBody({ image: "ubuntu_server_18.04_64-bit" }));
    expect(img.status).toBe(500);
    expect((img.body as { message: string }).message).toMatch(
      /^Failed to run command method \(createServer\): Invalid disk image .*ubuntu_server_24\.04_64-bit/,
    );
    expect(d.leftovers().servers).toEqual([]);
  });

  it("a CPU/RAM combination that is not offered ends the create command with error and no server", async () => {
    const r = await post("/service/server", createBody({ cpu: "1D", ram: "512" }));
    const done = await waitCommand(d.url, auth, (r.body as { commandIds: string[] }).commandIds[0] as string);
    expect(done).toMatchObject({ status: "error", log: expect.stringMatching(/not offered/) });
    expect(d.leftovers()).toEqual({ servers: [], commands: [], machines: [] });
  });
});

describe("power, terminate, queue", () => {
  it("terminate without force while on is an error command; power off, then terminate works", async () => {
    const name = await created();
    const r = await post("/service/server/terminate", { name });
    const t = await waitCommand(d.url, auth, (r.body as string[])[0] as string);
    expect(t).toMatchObject({ status: "error", log: `Server ${name} is powered on: terminate needs force` });
    const off = await post("/service/server/poweroff", { name });
    expect((await waitCommand(d.url, auth, (off.body as string[])[0] as string)).status).toBe("complete");
    const [info] = (await post("/service/server/info", { name })).body as Array<{ power: string }>;
    expect(info?.power).toBe("off");
    const again = await post("/service/server/poweroff", { name });
    expect((await waitCommand(d.url, auth, (again.body as string[])[0] as string)).log).toMatch(
      /already powered off/,
    );
    const t2 = await post("/service/server/terminate", { name });
    expect((await waitCommand(d.url, auth, (t2.body as string[])[0] as string)).status).toBe("complete");
    expect(d.leftovers()).toEqual({ servers: [], commands: [], machines: [] });
    expect(await post("/service/server/info", { name })).toMatchObject({
      status: 500,
      body: { message: `No servers found (name='${name}')` },
    });
    expect((await post("/service/server/info", { name, "allow-no-servers": true })).body).toEqual([]);
  });

  it("names are regular expressions ^name$; several ids in one queue call; log=1; an unknown id", async () => {
    const a = await created();
    const b = await created();
    const r = await post("/service/server/poweroff", { name: "kiln-test-.*" });
    const ids = r.body as string[];
    expect(ids.length).toBeGreaterThanOrEqual(2);
    await Promise.all(ids.map((id) => waitCommand(d.url, auth, id)));
    const both = (await get("/service/queue", { id: ids.join(" ") })).body as Array<{ status: string }>;
    expect(both.map((x) => x.status)).toEqual(ids.map(() => "complete"));
    expect((await get("/service/queue", { id: ids[0] as string, log: "1" })).body).toEqual([
      { log: expect.stringMatching(/powered off/) },
    ]);
    expect(await get("/service/queue", { id: "999999" })).toMatchObject({ status: 500 });
    await terminate(a);
    await terminate(b);
  });
});

describe("disks and the hard-disk library", () => {
  it("lists disks with snapshot children first, clones to a standalone file, and a new server boots from it", async () => {
    const name = await created({ disk: "size=20 size=50", image: "kiln_appliance_64-bit" });
    d.faults.snapshot(name, 1);
    const list = (await post("/server/hdlib", { name })).body as Array<{ uuid: string; sizeGB: number }>;
    expect(list.map((x) => x.sizeGB)).toEqual([20, 50, 50]);
    const disk1 = list[2]?.uuid as string;
    const r = await post("/server/hdlib", { name, clone: disk1, "image-name": "kiln-lib-disk1" });
    expect(typeof r.body).toBe("number");
    expect((await waitCommand(d.url, auth, r.body as number)).status).toBe("complete");
    const clone = d.account.clones.at(-1);
    expect(clone).toMatchObject({ server: name, uuid: disk1, disk: 1, name: "kiln-lib-disk1" });
    expect(fs.readFileSync(clone?.file as string, "utf8")).toContain(`kiln memory disk ${name} 1 50G`);
    const again = await post("/server/hdlib", { name, clone: disk1, "image-name": "kiln-lib-disk1" });
    expect((await waitCommand(d.url, auth, again.body as number)).log).toMatch(/already exists/);
    const opts = (await get("/service/server")).body as {
      diskImages: Record<string, Array<{ description: string }>>;
    };
    expect(opts.diskImages.EU?.map((i) => i.description)).toContain("kiln-lib-disk1");
    const pub = (await get("/service/server", { images: "1", datacenter: "EU" })).body as Array<{
      name: string;
    }>;
    expect(pub.map((i) => i.name)).not.toContain("kiln-lib-disk1"); // private images are not listed
    const from = await created({ image: "kiln-lib-disk1" });
    const m = [...host.machines.values()].find((x) => x.spec.name === from);
    expect(m?.spec.disks[0]?.base).toBe(clone?.file);
    await terminate(name);
    await terminate(from);
  });
});

describe("faults", () => {
  it("error answers counted down, with headers", async () => {
    d.faults.inject({ path: "/service/servers", status: 429, headers: { "Retry-After": "1" }, times: 1 });
    const r = await get("/service/servers");
    expect(r.status).toBe(429);
    expect(r.headers["retry-after"]).toBe("1");
    expect((await get("/service/servers")).status).toBe(200);
  });

  it("stuck, failing and odd commands; id shapes; dropped log; renamed server; lost server; no IP", async () => {
    d.faults.oddStatus("poweroff", "paused");
    d.faults.idShape("numbers");
    const name = await created();
    const off = await post("/service/server/poweroff", { name });
    expect(off.body).toEqual([expect.any(Number)]);
    expect((await waitCommand(d.url, auth, (off.body as number[])[0] as number)).status).toBe("paused");
    d.faults.idShape("map");
    d.faults.failCommand("terminate", "Terminate failed: storage busy");
    const t = await post("/service/server/terminate", { name, force: true });
    expect(t.body).toEqual({ commandIds: [expect.any(String)] });
    expect(
      await waitCommand(d.url, auth, (t.body as { commandIds: string[] }).commandIds[0] as string),
    ).toEqual(expect.objectContaining({ status: "error", log: "Terminate failed: storage busy" }));
    d.faults.stickCommand("terminate");
    const stuck = await post("/service/server/terminate", { name, force: true });
    const sid = (stuck.body as { commandIds: string[] }).commandIds[0] as string;
    await new Promise((r) => setTimeout(r, 100));
    expect(((await get("/service/queue", { id: sid })).body as Array<{ status: string }>)[0]?.status).toBe(
      "running",
    );
    await d.faults.loseServer(name);
    expect(d.leftovers().servers).toEqual([]);
    expect(d.leftovers().commands).toEqual([]); // the stuck terminate ended with its server

    d.faults.idShape("strings");
    d.faults.dropCreateLog();
    d.faults.renameOnCreate("-1");
    const body = createBody();
    const c = await post("/service/server", body);
    const done = await waitCommand(d.url, auth, (c.body as { commandIds: string[] }).commandIds[0] as string);
    expect(done.log).not.toMatch(/Name:/);
    const listed = ((await get("/service/servers")).body as Array<{ name: string }>).map((s) => s.name);
    expect(listed).toContain(`${body.name}-1`);
    d.faults.noExternalIp(`${body.name}-1`);
    expect(await post("/service/server/ssh", { name: `${body.name}-1` })).toMatchObject({
      status: 500,
      body: { message: `No external IP for server name ${body.name}-1` },
    });
    await terminate(`${body.name}-1`);
    expect(d.leftovers()).toEqual({ servers: [], commands: [], machines: [] });
  });

  it("a create command stuck while terminating: terminate ends it, nothing left", async () => {
    d.faults.stickCommand("create");
    const body = createBody();
    const r = await post("/service/server", body);
    const id = (r.body as { commandIds: string[] }).commandIds[0] as string;
    await new Promise((res) => setTimeout(res, 100));
    await terminate(body.name);
    const q = ((await get("/service/queue", { id })).body as Array<{ status: string; log: string }>)[0];
    expect(q).toMatchObject({ status: "error", log: "Server was terminated" });
    expect(d.leftovers()).toEqual({ servers: [], commands: [], machines: [] });
  });

  it("a hook before a request, and a script that powers the machine off at first boot", async () => {
    const seen: string[] = [];
    d.faults.before({ path: "/service/server/info" }, () => {
      seen.push("info");
    });
    const name = await created({
      "script-file": "echo hi > /root/x\npoweroff\n",
      "ssh-key": "",
      password: "Abcdefgh12",
    });
    await new Promise((r) => setTimeout(r, 150));
    const [info] = (await post("/service/server/info", { name })).body as Array<{ power: string }>;
    expect(seen).toEqual(["info"]);
    expect(info?.power).toBe("off");
    await terminate(name);
  });
});
