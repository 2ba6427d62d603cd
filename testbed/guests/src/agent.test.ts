import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import {
  AgentCommandError,
  AgentNotRunningError,
  agentCommandName,
  GuestAgent,
  splitAgentData,
} from "./agent.js";
import { hostView } from "./host-view.js";

describe("agent channel data", () => {
  test("0xFF delimiters dropped, complete lines out, the tail kept", () => {
    const r = splitAgentData(Buffer.from('{"return": 1}\n\xff{"return": 7}\n{"ret', "latin1"));
    expect(r.lines).toEqual(['{"return": 1}', '{"return": 7}']);
    expect(r.rest.toString()).toBe('{"ret');
  });
  test("PVE's command names", () => {
    expect(agentCommandName("ping")).toBe("guest-ping");
    expect(agentCommandName("guest-get-osinfo")).toBe("guest-get-osinfo");
  });
});

/**
 * The channel as QEMU presents it: a unix socket; behind it here a script speaking qemu-ga's
 * protocol, to drive the client through sync, stale replies and silence. The real agent is
 * exercised by runner.debian.test.ts.
 */
const servers: net.Server[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});
function channel(answer: (msg: { execute: string; arguments?: { id?: number } }, sock: net.Socket) => void) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "qga-"));
  dirs.push(dir);
  const file = path.join(dir, "qga.sock");
  const srv = net.createServer((sock) => {
    let buf = "";
    sock.on("data", (d) => {
      buf += d;
      for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        answer(JSON.parse(line), sock);
      }
    });
  });
  servers.push(srv);
  return new Promise<string>((r) => srv.listen(file, () => r(file)));
}

describe("GuestAgent", () => {
  test("syncs past stale replies, then returns answers and errors in order", async () => {
    const seen: string[] = [];
    const file = await channel((m, s) => {
      seen.push(m.execute);
      if (m.execute === "guest-sync-delimited") {
        s.write('{"return": {}}\n\xff{"return": 12345}\n'.replace(/\xff/, "\xff"), "latin1"); // stale first
        s.write(Buffer.concat([Buffer.from([0xff]), Buffer.from(`{"return": ${m.arguments?.id}}\n`)]));
      } else if (m.execute === "guest-ping") s.write('{"return": {}}\n');
      else
        s.write('{"error": {"class": "CommandNotFound", "desc": "Command guest-nope has been disabled"}}\n');
    });
    const a = new GuestAgent(file);
    await expect(a.execute("ping")).resolves.toEqual({});
    await expect(a.execute("nope")).rejects.toBeInstanceOf(AgentCommandError);
    await expect(a.execute("guest-ping")).resolves.toEqual({});
    expect(seen).toEqual(["guest-sync-delimited", "guest-ping", "guest-nope", "guest-ping"]);
    a.close();
  });

  test("a channel no agent answers is 'not running', and the next call syncs again", async () => {
    let up = false;
    const file = await channel((m, s) => {
      if (!up) return;
      if (m.execute === "guest-sync-delimited")
        s.write(Buffer.concat([Buffer.from([0xff]), Buffer.from(`{"return": ${m.arguments?.id}}\n`)]));
      else s.write('{"return": {"version": "7.2"}}\n');
    });
    const a = new GuestAgent(file, { syncTimeoutMs: 200 });
    await expect(a.execute("info")).rejects.toBeInstanceOf(AgentNotRunningError);
    await expect(a.execute("info")).rejects.toThrow("QEMU guest agent is not running");
    up = true;
    await expect(a.execute("info")).resolves.toEqual({ version: "7.2" });
    a.close();
    await expect(a.execute("info")).rejects.toBeInstanceOf(AgentNotRunningError);
  });

  test("no socket at all is 'not running'", async () => {
    const a = new GuestAgent(path.join(os.tmpdir(), "no-such-qga.sock"));
    await expect(a.execute("ping")).rejects.toBeInstanceOf(AgentNotRunningError);
  });
});

describe("hostView", () => {
  const ifs = [
    {
      name: "lo",
      "hardware-address": "00:00:00:00:00:00",
      "ip-addresses": [{ "ip-address": "127.0.0.1", "ip-address-type": "ipv4" as const, prefix: 8 }],
    },
    {
      name: "ens3",
      "hardware-address": "52:54:00:00:00:07",
      "ip-addresses": [
        { "ip-address": "10.0.2.15", "ip-address-type": "ipv4" as const, prefix: 24 },
        { "ip-address": "fe80::5054:ff:fe00:7", "ip-address-type": "ipv6" as const, prefix: 64 },
      ],
    },
    { name: "ens4", "hardware-address": "52:54:00:40:00:07" },
  ];
  test("the user-network NIC shows the guest's loopback address; the rest as reported", () => {
    const v = hostView(ifs, { mac: "52:54:00:00:00:07", address: "127.0.0.7" });
    expect(v[0]).toBe(ifs[0]);
    expect(v[1]?.["ip-addresses"]).toEqual([
      { "ip-address": "127.0.0.7", "ip-address-type": "ipv4", prefix: 8 },
      { "ip-address": "fe80::5054:ff:fe00:7", "ip-address-type": "ipv6", prefix: 64 },
    ]);
    expect(v[2]).toBe(ifs[2]);
  });
  test("a 198.18.0.0/15 guest address is shown with a LAN's prefix, /24", () => {
    const v = hostView(ifs, { mac: "52:54:00:00:00:07", address: "198.18.3.7" });
    expect(v[1]?.["ip-addresses"]?.[0]).toEqual({
      "ip-address": "198.18.3.7",
      "ip-address-type": "ipv4",
      prefix: 24,
    });
  });
});
