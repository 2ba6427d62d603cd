import { spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { isLoopbackV4, LoopbackPool } from "./addresses.js";
import { choosePorts, portFree } from "./ports.js";

const dirs: string[] = [];
const tmp = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "lbpool-"));
  dirs.push(d);
  return path.join(d, "claims");
};
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe("LoopbackPool", () => {
  test("hands out distinct 127.0.0.N, exclusive across pools (processes), until exhausted", () => {
    const dir = tmp();
    const a = new LoopbackPool({ dir, first: 10, last: 12 });
    const b = new LoopbackPool({ dir, first: 10, last: 12 });
    const got = [a.allocate(), b.allocate(), a.allocate()];
    expect(new Set(got).size).toBe(3);
    for (const g of got) expect(g).toMatch(/^127\.0\.0\.1[0-2]$/);
    expect(() => b.allocate()).toThrow(/no free loopback address in 127\.0\.0\.10-12/);
    expect(fs.readFileSync(path.join(dir, got[0] as string), "utf8").trim()).toBe(String(process.pid));
    a.release(got[0] as string);
    expect(b.allocate()).toBe(got[0]);
    b.releaseAll();
    a.releaseAll();
    expect(fs.existsSync(dir)).toBe(false);
  });

  test("a claim whose process is gone is taken over; a live one is not", () => {
    const dir = tmp();
    fs.mkdirSync(dir, { recursive: true });
    const dead = spawnSync("true").pid as number; // has exited
    fs.writeFileSync(path.join(dir, "127.0.0.20"), `${dead}\n`);
    fs.writeFileSync(path.join(dir, "127.0.0.21"), "1\n"); // init: alive
    const p = new LoopbackPool({ dir, first: 20, last: 21 });
    expect(p.allocate()).toBe("127.0.0.20");
    expect(() => p.allocate()).toThrow(/no free loopback/);
    p.releaseAll();
    expect(fs.readdirSync(dir)).toEqual(["127.0.0.21"]); // not ours: left alone
  });

  test("bad ranges and addresses", () => {
    expect(() => new LoopbackPool({ first: 0 })).toThrow(/bad range/);
    expect(isLoopbackV4("127.3.0.9")).toBe(true);
    expect(isLoopbackV4("10.0.2.15")).toBe(false);
  });
});

describe("choosePorts", () => {
  test("the same port on the guest's address when free there, another when taken", async () => {
    const addr = "127.0.0.253";
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, addr, () => r()));
    const taken = (srv.address() as net.AddressInfo).port;
    try {
      // a port free on 127.0.0.253 that is another address's business elsewhere
      const free = taken + 1;
      const f = await choosePorts(addr, [taken, ...((await portFree(addr, free)) ? [free] : [])]);
      expect(f[0]?.guest).toBe(taken);
      expect(f[0]?.host).not.toBe(taken);
      expect(await portFree(addr, f[0]?.host as number)).toBe(true);
      if (f[1]) expect(f[1]).toEqual({ guest: free, host: free });
      // the port is only taken on that address: another loopback address has it free
      expect(await portFree("127.0.0.252", taken)).toBe(true);
    } finally {
      srv.close();
    }
    await expect(choosePorts(addr, [0])).rejects.toThrow(/guest port 0 is not a TCP port/);
    expect(await choosePorts(addr, [{ guest: 22, host: 40022 }, 22])).toEqual([{ guest: 22, host: 40022 }]);
  });
});
