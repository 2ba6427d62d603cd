import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { login, request, waitTask } from "./client.js";
import { FakeRunner } from "./runner.js";
import { type PveDouble, startPveDouble } from "./server.js";

let d: PveDouble;
let s: Awaited<ReturnType<typeof login>>;
const runner = new FakeRunner();

beforeAll(async () => {
  d = await startPveDouble({ runner, taskDurationMs: 5 });
  s = await login(d.url, d.caCert, "root@pam", "kiln");
  const r = await request(d.url, "POST", "/nodes/pve/qemu", {
    ...s,
    params: { vmid: 100, agent: 1, scsi0: "local:1" },
  });
  await waitTask(d.url, "pve", r.body.data as string, s);
});
afterEach(() => d.faults.clear());
afterAll(async () => {
  await d?.close();
});

describe("fault injection", () => {
  test("5xx for a number of requests, then normal service", async () => {
    d.faults.inject({
      path: /^\/nodes\/pve\/qemu\/\d+\/status\/current$/,
      method: "GET",
      status: 503,
      times: 2,
    });
    const a = await request(d.url, "GET", "/nodes/pve/qemu/100/status/current", s);
    expect(a.status).toBe(503);
    expect(a.reason).toBe("Service Unavailable");
    expect(a.body).toEqual({ data: null, message: "Service Unavailable\n" });
    expect((await request(d.url, "GET", "/nodes/pve/qemu/100/status/current", s)).status).toBe(503);
    expect((await request(d.url, "GET", "/nodes/pve/qemu/100/status/current", s)).status).toBe(200);
  });

  test("429 with Retry-After; method filter; removal", async () => {
    const id = d.faults.inject({ path: "/version", status: 429, headers: { "Retry-After": "1" } });
    const r = await request(d.url, "GET", "/version", s);
    expect(r.status).toBe(429);
    expect(r.headers["retry-after"]).toBe("1");
    d.faults.remove(id);
    expect((await request(d.url, "GET", "/version", s)).status).toBe(200);
    d.faults.inject({ path: "/nodes/pve/qemu", method: "POST", status: 500, message: "got timeout" });
    expect((await request(d.url, "GET", "/nodes/pve/qemu", s)).status).toBe(200);
    const p = await request(d.url, "POST", "/nodes/pve/qemu", { ...s, params: { vmid: 130 } });
    expect(p.status).toBe(500);
    expect(p.reason).toBe("got timeout");
  });

  test("hanging requests time out on the client", async () => {
    d.faults.inject({ path: "/nodes", hang: true, times: 1 });
    await expect(request(d.url, "GET", "/nodes", { ...s, timeoutMs: 300 })).rejects.toThrow(/timed out/);
    expect((await request(d.url, "GET", "/nodes", s)).status).toBe(200);
  });

  test("slow tasks stay running; failing tasks stop with an error exitstatus", async () => {
    d.faults.slowTasks(1000, "qmstart");
    const r = await request(d.url, "POST", "/nodes/pve/qemu/100/status/start", s);
    const upid = r.body.data as string;
    await new Promise((res) => setTimeout(res, 150));
    const mid = await request(d.url, "GET", `/nodes/pve/tasks/${encodeURIComponent(upid)}/status`, s);
    expect((mid.body.data as { status: string }).status).toBe("running");
    expect((await waitTask(d.url, "pve", upid, s)).exitstatus).toBe("OK");

    d.faults.failTasks("qmstop", "timeout waiting on systemd");
    const stop = await request(d.url, "POST", "/nodes/pve/qemu/100/status/stop", s);
    expect(await waitTask(d.url, "pve", stop.body.data as string, s)).toMatchObject({
      status: "stopped",
      exitstatus: "timeout waiting on systemd",
    });
    const stop2 = await request(d.url, "POST", "/nodes/pve/qemu/100/status/stop", s);
    expect((await waitTask(d.url, "pve", stop2.body.data as string, s)).exitstatus).toBe("OK");
  });

  test("guest agent not running", async () => {
    const st = await request(d.url, "POST", "/nodes/pve/qemu/100/status/start", s);
    await waitTask(d.url, "pve", st.body.data as string, s);
    d.faults.agentDown(100);
    const r = await request(d.url, "GET", "/nodes/pve/qemu/100/agent/network-get-interfaces", s);
    expect(r.status).toBe(500);
    expect(r.reason).toBe("QEMU guest agent is not running");
    d.faults.agentDown(100, false);
    expect((await request(d.url, "GET", "/nodes/pve/qemu/100/agent/network-get-interfaces", s)).status).toBe(
      200,
    );
  });

  test("a lost guest shows as stopped", async () => {
    await d.faults.loseGuest(100);
    const r = await request(d.url, "GET", "/nodes/pve/qemu/100/status/current", s);
    expect((r.body.data as { status: string }).status).toBe("stopped");
    expect(runner.isRunning(100)).toBe(false);
  });

  test("VMID already taken elsewhere in the cluster", async () => {
    d.faults.takeVmid(101, "pve2");
    expect((await request(d.url, "GET", "/cluster/nextid", s)).body.data).toBe("102");
    const n = await request(d.url, "GET", "/cluster/nextid", { ...s, params: { vmid: 101 } });
    expect(n.status).toBe(400);
    expect(n.body.errors).toEqual({ vmid: "VM 101 already exists" });
    const c = await request(d.url, "POST", "/nodes/pve/qemu", { ...s, params: { vmid: 101 } });
    expect(c.status).toBe(500);
    expect(c.reason).toBe("VM 101 already exists on node 'pve2'");
  });

  test("the request log records what happened", () => {
    expect(d.state.requests.some((r) => r.status === 503 && r.path.endsWith("/status/current"))).toBe(true);
  });
});
