import { spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { LoopbackPool } from "./addresses.js";
import { defaultAddressMode, defaultAddressPool } from "./default-pool.js";
import { ipLo, KILN_LO_LABEL, type LoOps, loUnavailable } from "./lo.js";
import { LoPool } from "./lo-pool.js";

const CI = process.env.CI === "true";
const dirs: string[] = [];
const tmp = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "lopool-"));
  dirs.push(d);
  return path.join(d, "claims");
};
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});
const deadPid = () => spawnSync("true").pid as number; // has exited

/** lo as a map address → label, for the pool's logic without root. */
function fakeLo(initial: Record<string, string> = {}): LoOps & { on: Map<string, string> } {
  const on = new Map(Object.entries(initial));
  return {
    on,
    add(a) {
      if (on.has(a)) return "exists";
      on.set(a, KILN_LO_LABEL);
      return "added";
    },
    remove(a) {
      on.delete(a);
    },
    list: () => [...on].map(([address, label]) => ({ address, label })),
  };
}

describe("LoPool (lo faked)", () => {
  test("distinct addresses across pools, each on lo while held, gone after release; exhaustion", () => {
    const dir = tmp();
    const lo = fakeLo();
    const o = { dir, lo, first: "198.19.200.10", last: "198.19.200.12" };
    const a = new LoPool(o);
    const b = new LoPool(o);
    const got = [a.allocate(), b.allocate(), a.allocate()];
    expect(new Set(got).size).toBe(3);
    for (const g of got) expect(lo.on.get(g)).toBe(KILN_LO_LABEL);
    expect(() => b.allocate()).toThrow(/no free guest address in 198\.19\.200\.10-198\.19\.200\.12/);
    a.release(got[0] as string);
    expect(lo.on.has(got[0] as string)).toBe(false);
    expect(b.allocate()).toBe(got[0]);
    a.releaseAll();
    b.releaseAll();
    expect(lo.on.size).toBe(0);
    expect(fs.existsSync(dir)).toBe(false);
  });

  test("skips host parts 0, 1 and 255 (not a machine's on a /24); the range must be in 198.18.0.0/15", () => {
    const lo = fakeLo();
    const p = new LoPool({ dir: tmp(), lo, first: "198.19.200.254", last: "198.19.201.2" });
    expect([p.allocate(), p.allocate()].sort()).toEqual(["198.19.200.254", "198.19.201.2"]);
    expect(() => p.allocate()).toThrow(/no free guest address/);
    p.releaseAll();
    expect(() => new LoPool({ lo, first: "10.0.0.2", last: "10.0.0.9" })).toThrow(/bad range/);
    expect(p.contains("198.19.201.0")).toBe(true);
    expect(p.contains("127.0.0.5")).toBe(false);
  });

  test("an address someone else put on lo is skipped and left alone; a kiln leftover is used", () => {
    const lo = fakeLo({ "198.19.200.10": "lo", "198.19.200.11": KILN_LO_LABEL });
    const p = new LoPool({ dir: tmp(), lo, first: "198.19.200.10", last: "198.19.200.11" });
    // the sweep removed the unclaimed kiln leftover; the foreign one stays
    expect(lo.on.get("198.19.200.10")).toBe("lo");
    expect(lo.on.has("198.19.200.11")).toBe(false);
    expect(p.allocate()).toBe("198.19.200.11");
    expect(() => p.allocate()).toThrow(/no free guest address/);
    lo.on.set("198.19.200.11", KILN_LO_LABEL); // "exists" with kiln's label: fine
    p.releaseAll();
    expect([...lo.on.keys()]).toEqual(["198.19.200.10"]);
  });

  test("the sweep: kiln addresses with a stale or missing claim go, a live claim's stays; stale claim files go", () => {
    const dir = tmp();
    fs.mkdirSync(dir, { recursive: true });
    const lo = fakeLo({
      "198.19.200.10": KILN_LO_LABEL, // stale claim
      "198.19.200.11": KILN_LO_LABEL, // no claim
      "198.19.200.12": KILN_LO_LABEL, // live claim (init)
      "198.19.201.10": KILN_LO_LABEL, // outside this pool's range: not its business
    });
    fs.writeFileSync(path.join(dir, "198.19.200.10"), `${deadPid()}\n`);
    fs.writeFileSync(path.join(dir, "198.19.200.12"), "1\n");
    fs.writeFileSync(path.join(dir, "198.19.200.13"), `${deadPid()}\n`); // stale, not on lo
    const p = new LoPool({ dir, lo, first: "198.19.200.10", last: "198.19.200.13" });
    expect([...lo.on.keys()].sort()).toEqual(["198.19.200.12", "198.19.201.10"]);
    expect(fs.readdirSync(dir)).toEqual(["198.19.200.12"]);
    p.releaseAll();
  });

  test("a failing add says which address and why, and keeps no claim", () => {
    const dir = tmp();
    const lo: LoOps = {
      ...fakeLo(),
      add: () => {
        throw new Error("ip addr add 198.19.200.10/32 dev lo: RTNETLINK answers: Operation not permitted");
      },
    };
    const p = new LoPool({ dir, lo, first: "198.19.200.10", last: "198.19.200.10" });
    expect(() => p.allocate()).toThrow(/guest address 198\.19\.200\.10: .*Operation not permitted/);
    expect(fs.existsSync(path.join(dir, "198.19.200.10"))).toBe(false);
  });
});

describe("defaultAddressPool", () => {
  const cannot = () => "ip addr add 198.19.255.254/32 dev lo: RTNETLINK answers: Operation not permitted";
  test("falls back to 127.0.0.N where adding to lo is impossible, except under CI=true", () => {
    expect(defaultAddressMode({ env: {}, unavailable: cannot })).toBe("loopback");
    const p = defaultAddressPool({ env: {}, unavailable: cannot });
    expect(p).toBeInstanceOf(LoopbackPool);
    const a = p.allocate();
    expect(a).toMatch(/^127\.0\.0\.\d+$/);
    p.releaseAll();
    expect(() => defaultAddressPool({ env: { CI: "true" }, unavailable: cannot })).toThrow(
      /cannot add an address to lo \(.*Operation not permitted\).*CAP_NET_ADMIN.*CI=true/,
    );
    expect(() => defaultAddressPool({ env: { KILN_GUEST_ADDRESSES: "lo" }, unavailable: cannot })).toThrow(
      /KILN_GUEST_ADDRESSES=lo is set/,
    );
  });

  test("KILN_GUEST_ADDRESSES=loopback forces 127.0.0.N without trying lo; other values are refused", () => {
    const tried: string[] = [];
    const p = defaultAddressPool({
      env: { KILN_GUEST_ADDRESSES: "loopback", CI: "true" },
      unavailable: () => {
        tried.push("x");
        return "";
      },
    });
    expect(p).toBeInstanceOf(LoopbackPool);
    expect(tried).toEqual([]);
    expect(() => defaultAddressPool({ env: { KILN_GUEST_ADDRESSES: "v6" } })).toThrow(/use "lo"/);
  });

  test("a LoPool where adding works", () => {
    expect(defaultAddressMode({ env: {}, unavailable: () => "" })).toBe("lo");
    const p = defaultAddressPool({ env: {}, unavailable: () => "" });
    expect(p).toBeInstanceOf(LoPool);
    expect(p.range).toBe("198.18.0.2-198.18.255.254");
  });
});

// The real thing: root with CAP_NET_ADMIN and iproute2 (CI runs as root: no skipping there).
const noLo = loUnavailable();
if (noLo && CI) throw new Error(`cannot add addresses to lo under CI=true: ${noLo}`);
if (noLo) console.warn(`SKIP LoPool on the real lo: ${noLo}`);

const loShows = () => spawnSync("ip", ["-4", "addr", "show", "dev", "lo"], { encoding: "utf8" }).stdout;
const has = (a: string) => new RegExp(`inet ${a.replaceAll(".", "\\.")}/32 `).test(loShows());
/** Whether this host has `host` (a socket can be bound to it). */
const bindable = (host: string) =>
  new Promise<boolean>((resolve) => {
    const srv = net.createServer();
    srv.once("error", () => resolve(false));
    srv.listen(0, host, () => srv.close(() => resolve(true)));
  });

const NET = `198.19.${100 + (process.pid % 100)}`;

describe.skipIf(!!noLo)("LoPool on the real lo (root)", () => {
  // a range of the test's own, outside the default pool's (198.18.0.0/16): real pools running
  // meanwhile neither sweep nor hand out these; per process, so two runs of this file do not meet
  const range = { first: `${NET}.10`, last: `${NET}.12` };

  test("the address is on lo, a TCP server bound to it is reachable, gone after release", async () => {
    const p = new LoPool({ dir: tmp(), ...range });
    const a = p.allocate();
    try {
      expect(has(a)).toBe(true);
      expect(ipLo.list()).toContainEqual({ address: a, label: KILN_LO_LABEL });
      const srv = net.createServer((c) => c.end("hi\n"));
      await new Promise<void>((r) => srv.listen(0, a, () => r()));
      const port = (srv.address() as net.AddressInfo).port;
      const got = await new Promise<string>((resolve, reject) => {
        const s = net.connect({ host: a, port });
        let d = "";
        s.on("data", (x) => {
          d += x;
        });
        s.on("end", () => resolve(d));
        s.on("error", reject);
      });
      expect(got).toBe("hi\n");
      await new Promise<void>((r) => srv.close(() => r()));
    } finally {
      p.release(a);
    }
    expect(has(a)).toBe(false);
    expect(await bindable(a)).toBe(false); // EADDRNOTAVAIL: the host no longer has it
  });

  test("close of every address (releaseAll); a stale claim's address is taken over ('exists' is fine)", () => {
    const dir = tmp();
    fs.mkdirSync(dir, { recursive: true });
    // a process that died holding ${NET}.12: its claim and the address on lo are left
    expect(ipLo.add(`${NET}.12`)).toBe("added");
    fs.writeFileSync(path.join(dir, `${NET}.12`), `${deadPid()}\n`);
    try {
      const p = new LoPool({ dir, ...range, first: `${NET}.12` });
      // the sweep at creation removed it …
      expect(has(`${NET}.12`)).toBe(false);
      expect(fs.existsSync(path.join(dir, `${NET}.12`))).toBe(false);
      // … and when a stale claim appears later, allocate takes it over, address on lo or not
      expect(ipLo.add(`${NET}.12`)).toBe("added");
      fs.writeFileSync(path.join(dir, `${NET}.12`), `${deadPid()}\n`);
      expect(p.allocate()).toBe(`${NET}.12`);
      expect(fs.readFileSync(path.join(dir, `${NET}.12`), "utf8").trim()).toBe(String(process.pid));
      expect(has(`${NET}.12`)).toBe(true);
      p.releaseAll();
      expect(has(`${NET}.12`)).toBe(false);
      expect(fs.existsSync(dir)).toBe(false);
    } finally {
      ipLo.remove(`${NET}.12`);
    }
  });

  test("an address on lo without kiln's label is not used, nor removed", () => {
    spawnSync("ip", ["addr", "add", `${NET}.10/32`, "dev", "lo"]);
    try {
      const p = new LoPool({ dir: tmp(), ...range, last: `${NET}.11` });
      expect(has(`${NET}.10`)).toBe(true); // not swept
      expect(p.allocate()).toBe(`${NET}.11`);
      expect(() => p.allocate()).toThrow(/no free guest address/);
      p.releaseAll();
      expect(has(`${NET}.10`)).toBe(true);
      expect(has(`${NET}.11`)).toBe(false);
    } finally {
      ipLo.remove(`${NET}.10`);
    }
  });
});
