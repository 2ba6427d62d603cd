import https from "node:https";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { login, request } from "./client.js";
import { type PveDouble, startPveDouble } from "./server.js";

let d: PveDouble;
const TOKEN = { id: "kiln@pve!ci", secret: "5f8e1b2c-0000-4000-8000-000000000001" };
const AUDITOR = { id: "audit@pve!ro", secret: "5f8e1b2c-0000-4000-8000-000000000002" };

beforeAll(async () => {
  d = await startPveDouble({
    users: {
      "root@pam": { password: "kiln", privileges: "all" },
      "alice@pve": { password: "wonder", privileges: { "/vms/200": ["VM.Allocate", "VM.Audit"] } },
    },
    tokens: {
      [TOKEN.id]: {
        secret: TOKEN.secret,
        privileges: [
          "VM.Allocate",
          "VM.Audit",
          "VM.Config.Disk",
          "VM.Config.Options",
          "VM.PowerMgmt",
          "Datastore.AllocateSpace",
        ],
      },
      [AUDITOR.id]: { secret: AUDITOR.secret, privileges: { "/": ["VM.Audit", "Datastore.Audit"] } },
    },
  });
});
afterAll(async () => {
  await d?.close();
});

describe("TLS", () => {
  test("a client that does not trust the certificate is refused", async () => {
    await expect(request(d.url, "GET", "/version")).rejects.toThrow(/self[- ]signed|unable to verify/i);
  });

  test("a client that trusts the CA PEM connects; the certificate is for 127.0.0.1", async () => {
    const r = await request(d.url, "GET", "/version", { ca: d.caCert });
    expect(r.status).toBe(401); // TLS fine, auth missing
    const peer = await new Promise<string>((resolve, reject) => {
      const req = https.get(`${d.url}/version`, { ca: d.caCert }, (res) => {
        res.resume();
        resolve((res.socket as import("node:tls").TLSSocket).getPeerCertificate().fingerprint256);
      });
      req.on("error", reject);
    });
    expect(peer).toBe(d.fingerprint);
  });
});

describe("ticket auth", () => {
  test("POST /access/ticket returns ticket, CSRF token and username", async () => {
    const r = await request(d.url, "POST", "/access/ticket", {
      ca: d.caCert,
      params: { username: "root@pam", password: "kiln" },
    });
    expect(r.status).toBe(200);
    const data = r.body.data as Record<string, string>;
    expect(data.username).toBe("root@pam");
    expect(data.ticket).toMatch(/^PVE:root@pam:[0-9A-F]{8}::/);
    expect(data.CSRFPreventionToken).toMatch(/^[0-9A-F]{8}:/);
  });

  test("username + realm parameter is accepted", async () => {
    const r = await request(d.url, "POST", "/access/ticket", {
      ca: d.caCert,
      params: { username: "root", realm: "pam", password: "kiln" },
    });
    expect((r.body.data as { username: string }).username).toBe("root@pam");
  });

  test("a wrong password is 401 authentication failure", async () => {
    const r = await request(d.url, "POST", "/access/ticket", {
      ca: d.caCert,
      params: { username: "root@pam", password: "nope" },
    });
    expect(r.status).toBe(401);
    expect(r.reason).toBe("authentication failure");
    expect(r.body).toEqual({ data: null, message: "authentication failure\n" });
  });

  test("no credentials: 401 No ticket; a forged ticket: 401", async () => {
    const r = await request(d.url, "GET", "/nodes", { ca: d.caCert });
    expect(r.status).toBe(401);
    expect(r.reason).toBe("No ticket");
    const f = await request(d.url, "GET", "/nodes", {
      ca: d.caCert,
      ticket: "PVE:root@pam:6560A1B2::Zm9yZ2Vk",
    });
    expect(f.status).toBe(401);
    expect(f.reason).toBe("permission denied - invalid PVE ticket");
  });

  test("the ticket authenticates reads via the PVEAuthCookie cookie", async () => {
    const s = await login(d.url, d.caCert, "root@pam", "kiln");
    const r = await request(d.url, "GET", "/nodes", { ca: s.ca, ticket: s.ticket });
    expect(r.status).toBe(200);
    expect((r.body.data as { node: string }[])[0]?.node).toBe("pve");
  });

  test("writes with a ticket need the CSRFPreventionToken header", async () => {
    const s = await login(d.url, d.caCert, "root@pam", "kiln");
    const params = { vmid: 150, name: "csrf" };
    const no = await request(d.url, "POST", "/nodes/pve/qemu", { ca: s.ca, ticket: s.ticket, params });
    expect(no.status).toBe(401);
    expect(no.reason).toBe("Permission denied - invalid csrf token");
    const wrong = await request(d.url, "POST", "/nodes/pve/qemu", {
      ca: s.ca,
      ticket: s.ticket,
      csrf: "6560A1B2:abc",
      params,
    });
    expect(wrong.status).toBe(401);
    const ok = await request(d.url, "POST", "/nodes/pve/qemu", { ...s, params });
    expect(ok.status).toBe(200);
    expect(ok.body.data).toMatch(/^UPID:pve:[0-9A-F]{8}:[0-9A-F]{8}:[0-9A-F]{8}:qmcreate:150:root@pam:$/);
    await d.state.waitTask(ok.body.data as string);
  });

  test("a ticket can be renewed by passing it as the password", async () => {
    const s = await login(d.url, d.caCert, "root@pam", "kiln");
    const r = await request(d.url, "POST", "/access/ticket", {
      ca: d.caCert,
      params: { username: "root@pam", password: s.ticket as string },
    });
    expect(r.status).toBe(200);
  });
});

describe("API token auth", () => {
  test("PVEAPIToken header authenticates without CSRF, also for writes", async () => {
    const r = await request(d.url, "GET", "/version", { ca: d.caCert, token: TOKEN });
    expect(r.status).toBe(200);
    expect((r.body.data as { release: string }).release).toBe("9.1");
    const w = await request(d.url, "POST", "/nodes/pve/qemu", {
      ca: d.caCert,
      token: TOKEN,
      params: { vmid: 151 },
    });
    expect(w.status).toBe(200);
    expect(w.body.data).toMatch(/:qmcreate:151:kiln@pve!ci:$/);
    await d.state.waitTask(w.body.data as string);
  });

  test("a wrong secret or unknown token is 401", async () => {
    const r = await request(d.url, "GET", "/version", {
      ca: d.caCert,
      token: { id: TOKEN.id, secret: "wrong" },
    });
    expect(r.status).toBe(401);
    const u = await request(d.url, "GET", "/version", {
      ca: d.caCert,
      token: { id: "x@pve!y", secret: "z" },
    });
    expect(u.status).toBe(401);
  });

  test("POST /access/ticket is a world call: a token header does not get in the way", async () => {
    const r = await request(d.url, "POST", "/access/ticket", {
      ca: d.caCert,
      token: TOKEN,
      params: { username: "root@pam", password: "kiln" },
    });
    expect(r.status).toBe(200);
  });
});

describe("privileges", () => {
  test("403 Permission check failed names the path and privilege", async () => {
    const r = await request(d.url, "POST", "/nodes/pve/qemu/151/status/start", {
      ca: d.caCert,
      token: AUDITOR,
    });
    expect(r.status).toBe(403);
    expect(r.reason).toBe("Permission check failed (/vms/151, VM.PowerMgmt)");
    expect(r.body).toEqual({ data: null, message: "Permission check failed (/vms/151, VM.PowerMgmt)\n" });
  });

  test("create needs VM.Allocate on /vms/{vmid} (ACL paths are honoured)", async () => {
    const s = await login(d.url, d.caCert, "alice@pve", "wonder");
    const denied = await request(d.url, "POST", "/nodes/pve/qemu", { ...s, params: { vmid: 201 } });
    expect(denied.status).toBe(403);
    expect(denied.reason).toBe("Permission check failed");
    const ok = await request(d.url, "POST", "/nodes/pve/qemu", { ...s, params: { vmid: 200 } });
    expect(ok.status).toBe(200);
    await d.state.waitTask(ok.body.data as string);
  });

  test("power management needs VM.PowerMgmt; the token has it", async () => {
    const r = await request(d.url, "POST", "/nodes/pve/qemu/151/status/start", {
      ca: d.caCert,
      token: TOKEN,
    });
    expect(r.status).toBe(200);
    await d.state.waitTask(r.body.data as string);
    const stop = await request(d.url, "POST", "/nodes/pve/qemu/151/status/stop", {
      ca: d.caCert,
      token: TOKEN,
    });
    await d.state.waitTask(stop.body.data as string);
  });

  test("upload needs Datastore.AllocateTemplate (the token lacks it), checked before the body is read", async () => {
    const r = await request(d.url, "POST", "/nodes/pve/storage/local/upload", {
      ca: d.caCert,
      token: TOKEN,
      raw: { body: "--x\r\n", contentType: "multipart/form-data; boundary=x" },
    });
    expect(r.status).toBe(403);
    expect(r.reason).toBe("Permission check failed (/storage/local, Datastore.AllocateTemplate)");
  });

  test("VM lists only show VMs with VM.Audit", async () => {
    const s = await login(d.url, d.caCert, "alice@pve", "wonder");
    const r = await request(d.url, "GET", "/nodes/pve/qemu", { ca: s.ca, ticket: s.ticket });
    expect((r.body.data as { vmid: number }[]).map((v) => v.vmid)).toEqual([200]);
    const all = await request(d.url, "GET", "/cluster/resources", {
      ca: d.caCert,
      token: AUDITOR,
      params: { type: "vm" },
    });
    expect((all.body.data as { vmid: number }[]).map((v) => v.vmid).sort()).toEqual([150, 151, 200]);
  });

  test("task status: other users' tasks need Sys.Audit", async () => {
    const upid = [...d.state.tasks.keys()].find((u) => u.includes(":root@pam:")) as string;
    const r = await request(d.url, "GET", `/nodes/pve/tasks/${encodeURIComponent(upid)}/status`, {
      ca: d.caCert,
      token: TOKEN,
    });
    expect(r.status).toBe(403);
  });
});
