/**
 * The kamatera builder against the Kamatera API double (testbed/kamatera) with in-memory
 * machines: every request is checked against the contract by the double; machines do not boot,
 * so most builds use `communicator: none` (the real guests are in kamatera.e2e.test.ts). They
 * prove the call sequence, the options' effect on the requests, secrets kept out of the output,
 * and that every fault ends in a clear error — or is ridden out — with nothing left on the double.
 */
import { fileURLToPath } from "node:url";
import type { KilnError } from "@kiln/core";
import { type BuildRun, buildFile, ensureDist, makeScratch } from "@kiln/sdk/testing";
import { type KamateraDouble, MemoryHost, request, startKamateraDouble } from "@kiln-testbed/kamatera";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

const PKG_DIR = fileURLToPath(new URL("..", import.meta.url));
const RESOLVER = { standard: { builder: { kamatera: "@kiln/builder-kamatera" } } };

let d: KamateraDouble;
let dir: string;

const errorOf = (run: BuildRun) => run.result.runs[0]?.error as KilnError | undefined;
const errorText = (run: BuildRun) => {
  const e = errorOf(run);
  return e ? `${e.message}\n${e.hint ?? ""}` : "";
};
const nothingLeft = () => expect(d.leftovers()).toEqual({ servers: [], commands: [], machines: [] });
const EMPTY = JSON.stringify({ servers: [], commands: [], machines: [] });
const calls = (endpoint: string) => d.account.requests.filter((r) => r.endpoint === endpoint);

let seq = 0;
/** A build file; `extra` lines (key: value) override the defaults. */
function source(extra = "", o: { secret?: string } = {}): string {
  const opts = new Map<string, string>([
    ["api_url", d.url],
    ["api_client_id", d.clientId],
    ["api_secret", o.secret ?? d.secret],
    ["datacenter", "EU"],
    ["image", "kiln_appliance_64-bit"],
    ["image_name", `kiln-api-${++seq}`],
    ["communicator", "none"],
    ["poll_interval", "50ms"],
    ["wait_timeout", "10s"],
  ]);
  for (const line of extra.split("\n").filter(Boolean)) {
    const i = line.indexOf(": ");
    opts.set(line.slice(0, i), line.slice(i + 2));
  }
  return `kiln: 1
sources:
  box:
    type: kamatera
${[...opts].map(([k, v]) => `    ${k}: ${v}`).join("\n")}
builds:
  - sources: [box]
`;
}

const build = (yaml: string, opts: Parameters<typeof buildFile>[3] = {}) =>
  buildFile(dir, `b${seq}.kiln.yaml`, yaml, { resolver: RESOLVER, ...opts });

beforeAll(async () => {
  ensureDist(PKG_DIR);
  d = await startKamateraDouble({
    host: new MemoryHost({ shutdownMs: 10, scriptMs: 100 }),
    commandDurationMs: 30,
  });
  dir = makeScratch(PKG_DIR, "api");
}, 120_000);

afterEach(() => {
  d.faults.clear();
  nothingLeft();
  expect(d.account.contractViolations).toEqual([]);
});

afterAll(async () => {
  await d?.close();
  const { rmSync } = await import("node:fs");
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("a build", () => {
  it("calls the API in order, saves the disk to the library, terminates the server, and never shows the secret", async () => {
    const run = await build(source());
    expect(run.result.ok, run.log).toBe(true);
    const order = d.account.requests
      .filter((r) => r.endpoint && r.endpoint !== "queue.detail")
      .map((r) => r.endpoint);
    expect(order).toEqual([
      "catalog.options",
      "catalog.capabilities",
      "server.create",
      "server.info",
      "server.poweroff",
      "server.info",
      "server.hdlib",
      "server.hdlib",
      "catalog.options",
      "server.list",
      "server.terminate",
    ]);
    const create = calls("server.create").at(-1)?.flags;
    expect(create).toMatchObject({
      datacenter: "EU",
      image: "kiln_appliance_64-bit",
      cpu: "1A",
      ram: "1024",
      disk: [{ id: "0", size: "10" }],
      password: "***",
      billingcycle: "hourly",
      poweronaftercreate: "yes",
    });
    expect(create?.name).toMatch(/^kiln-box-[0-9a-f]{8}$/);
    const terminate = calls("server.terminate").at(-1)?.flags;
    expect(terminate).toMatchObject({ name: create?.name, force: true });
    const art = run.result.runs[0]?.artifacts[0];
    expect(art).toMatchObject({
      builderType: "kamatera",
      id: `kiln-api-${seq}`,
      files: [],
      data: {
        datacenter: "EU",
        images: [{ disk: 0, name: `kiln-api-${seq}`, id: expect.stringMatching(/^EU:/), size_gb: 10 }],
      },
    });
    expect(d.account.catalog.library().map((i) => i.name)).toContain(`kiln-api-${seq}`);
    expect(run.log).toMatch(/Kamatera generated the server's root password/);
    expect(JSON.stringify(run.events)).not.toContain(d.secret);
    expect(run.log).not.toMatch(/"password"|passwordValidate/); // no request body in any line
  });

  it("two disks: one library image per disk, the right disk cloned even with a snapshot child before it", async () => {
    d.faults.before({ path: "/server/hdlib" }, () => {
      const s = [...d.account.servers.values()][0];
      if (s) d.faults.snapshot(s.name, 1);
    });
    const run = await build(source("disks: [{ size: 20 }, { size: 50, image_name: kiln-api-data }]"));
    expect(run.result.ok, run.log).toBe(true);
    const clones = d.account.clones.slice(-2);
    expect(clones.map((c) => [c.disk, c.name])).toEqual([
      [0, `kiln-api-${seq}`],
      [1, "kiln-api-data"],
    ]);
    expect(calls("server.create").at(-1)?.flags?.disk).toEqual([
      { id: "0", size: "20" },
      { id: "1", size: "50" },
    ]);
    expect(run.result.runs[0]?.artifacts[0]).toMatchObject({
      id: `kiln-api-${seq},kiln-api-data`,
      data: {
        images: [
          { disk: 0, size_gb: 20 },
          { disk: 1, size_gb: 50 },
        ],
      },
    });
  });

  it("honours poll_interval: the queue is polled about that often", async () => {
    d.faults.slowCommands("create", 1200);
    const run = await build(source("poll_interval: 200ms"));
    expect(run.result.ok, run.log).toBe(true);
    const create = calls("server.create").at(-1) as { at: number };
    const polls = calls("queue.detail").filter((r) => r.at > create.at);
    const firstId = polls[0]?.flags?.id;
    const times = polls.filter((r) => r.flags?.id === firstId).map((r) => r.at);
    expect(times.length).toBeGreaterThanOrEqual(3);
    expect(times.length).toBeLessThanOrEqual(8);
    const gaps = times.slice(1).map((t, i) => t - (times[i] as number));
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(180);
  });

  it("over SSH: the create request carries kiln's temporary ed25519 key; no SSH → a clear error, the server terminated", async () => {
    const run = await build(source("communicator: ssh\nssh_port: 1\nssh_timeout: 2s"));
    expect(run.result.ok).toBe(false);
    expect(errorText(run)).toMatch(/\[kamatera\].*(SSH|ssh|connect)/);
    expect(calls("server.create").at(-1)?.flags?.["ssh-key"]).toMatch(
      /^ssh-ed25519 AAAA\S+ kiln-temporary-key$/,
    );
    expect(run.log).toMatch(/Server kiln-box-[0-9a-f]{8} has the external IP 203\.0\.113\.\d+/);
    expect(run.log).toMatch(/Terminating server/);
  });

  it("temporary_key_pair_type: rsa sends an RSA key (3072 bits)", async () => {
    const run = await build(
      source("communicator: ssh\ntemporary_key_pair_type: rsa\nssh_port: 1\nssh_timeout: 1s"),
    );
    expect(run.result.ok).toBe(false);
    const key = String(calls("server.create").at(-1)?.flags?.["ssh-key"]);
    expect(key).toMatch(/^ssh-rsa /);
    expect(Buffer.from(key.split(" ")[1] as string, "base64").length).toBeGreaterThan(390); // 3072-bit modulus
  });

  it("the log's name wins (Kamatera renamed the server); without a Name: line the server list tells", async () => {
    d.faults.renameOnCreate("-1");
    const run = await build(source());
    expect(run.result.ok, run.log).toBe(true);
    const requested = calls("server.create").at(-1)?.flags?.name;
    expect(calls("server.terminate").at(-1)?.flags?.name).toBe(`${requested}-1`);
    d.faults.dropCreateLog();
    const again = await build(source());
    expect(again.result.ok, again.log).toBe(true);
    expect(again.log).toMatch(/log names no server; the server list shows kiln-box-/);
  });

  it("disable_ssh + script: no key, the script as script-file, waits for the script to power the server off, no power-off call", async () => {
    const before = calls("server.poweroff").length;
    const run = await build(source('disable_ssh: true\nscript: "echo ok > /root/script-ran\\npoweroff\\n"'));
    expect(run.result.ok, run.log).toBe(true);
    const flags = calls("server.create").at(-1)?.flags;
    expect(flags?.["ssh-key"]).toBeUndefined(); // "" → not set
    expect(flags?.["script-file"]).toBe("echo ok > /root/script-ran\npoweroff\n");
    expect(run.log).toMatch(/Waiting for the first-boot script to power kiln-box-\S+ off/);
    expect(run.log).toMatch(/is off: the script has finished/);
    expect(calls("server.poweroff").length).toBe(before);
    expect(run.log).not.toContain("/root/script-ran"); // the script is never logged
  });

  it("disable_ssh with a script that never powers off: script_timeout ends it clearly", async () => {
    const run = await build(source('disable_ssh: true\nscript: "echo hi"\nscript_timeout: 1s'));
    expect(run.result.ok).toBe(false);
    expect(errorOf(run)?.code).toBe("KILN_KAMATERA_SCRIPT_TIMEOUT");
    expect(errorText(run)).toMatch(/still on after script_timeout 1s.*Stop-Computer -Force/s);
  });
});

describe("pre-flight checks (nothing is created)", () => {
  it.each([
    [
      "image: ubuntu_server_18.04_64-bit",
      /image "ubuntu_server_18\.04_64-bit" is not available in datacenter EU[\s\S]*Images in EU: ubuntu_server_22\.04_64-bit, ubuntu_server_24\.04_64-bit/,
    ],
    ["datacenter: XX", /datacenter "XX" does not exist[\s\S]*EU: Amsterdam/],
    ["cpu: 1D", /no CPU type|comes with 2, 4, 8, 16 cores, not 1/],
    ["ram: 300", /ram 300: CPU type A in EU takes/],
    ["disk: 3", /disk 0: 3 GiB is not a disk size/],
  ])("%s", async (extra, message) => {
    const before = calls("server.create").length;
    const run = await build(source(extra));
    expect(run.result.ok).toBe(false);
    expect(errorText(run)).toMatch(message);
    expect(calls("server.create").length).toBe(before);
  });

  it("an image_name the library has already", async () => {
    const first = await build(source());
    expect(first.result.ok).toBe(true);
    const name = `kiln-api-${seq}`;
    const run = await build(source().replace(/image_name: \S+/, `image_name: ${name}`));
    expect(errorOf(run)?.code).toBe("KILN_KAMATERA_IMAGE_EXISTS");
    expect(errorText(run)).toMatch(/no call to delete a library image/);
  });

  it("wrong credentials: a clear 401 error naming the options, nothing created, the wrong secret never shown", async () => {
    const before = calls("server.create").length;
    const run = await build(source("", { secret: "not-the-secret-123" }));
    expect(run.result.ok).toBe(false);
    expect(errorOf(run)?.code).toBe("KILN_KAMATERA_AUTH");
    expect(errorText(run)).toMatch(/401 Authentication failed[\s\S]*check api_client_id and api_secret/);
    expect(calls("server.create").length).toBe(before);
    expect(JSON.stringify(run.events)).not.toContain("not-the-secret-123");
  });

  it("config errors before any call: ssh_password against Kamatera's rule, wait_for_power_off over SSH", async () => {
    const n = d.account.requests.length;
    const pw = await build(source("communicator: ssh\nssh_password: short"));
    expect(errorText(pw)).toMatch(/ssh_password becomes the server's root password.*10 to 20/);
    expect(errorText(pw)).not.toContain("short");
    const w = await build(source("wait_for_power_off: true"));
    expect(errorText(w)).toMatch(/wait_for_power_off applies with disable_ssh only/);
    expect(d.account.requests.length).toBe(n);
  });
});

describe("faults: each ends in a clear error, or is ridden out, with nothing left", () => {
  it("5xx and 429 on calls that may be repeated are retried; the build succeeds", async () => {
    d.faults.inject({ path: "/service/queue", status: 502, times: 2 });
    d.faults.inject({ path: "/service/server/info", status: 503, times: 1 });
    d.faults.inject({
      path: "/service/server",
      method: "POST",
      status: 429,
      headers: { "Retry-After": "0" },
      times: 1,
    });
    const run = await build(source());
    expect(run.result.ok, run.log).toBe(true);
    expect(run.log).toMatch(/GET \/service\/queue: 502 Bad Gateway; retrying in 0\.5s/);
    expect(run.log).toMatch(/POST \/service\/server: 429 .*; retrying/);
  });

  it("a 5xx on create is not repeated (the server might exist): a clear error, cleanup looks for it", async () => {
    d.faults.inject({
      path: "/service/server",
      method: "POST",
      status: 500,
      message: "upstream timeout",
      times: 1,
    });
    const before = calls("server.create").length;
    const run = await build(source());
    expect(run.result.ok).toBe(false);
    expect(errorText(run)).toMatch(/\[kamatera\] POST \/service\/server: 500 upstream timeout/);
    expect(calls("server.create").length).toBe(before); // the fault answered; nothing reached the handler
    expect(run.log).toMatch(/No server kiln-box-\S+ exists \(any more\): nothing to terminate/);
  });

  it("a create the proxy refuses (4xx): the error as the API says it, and cleanup does not look for a server", async () => {
    d.faults.inject({
      path: "/service/server",
      method: "POST",
      status: 400,
      message: "missing required flag (name)",
      times: 1,
    });
    const lists = calls("server.list").length;
    const run = await build(source());
    expect(errorText(run)).toMatch(/\[kamatera\] POST \/service\/server: 400 missing required flag \(name\)/);
    expect(calls("server.list").length).toBe(lists);
  });

  it("5xx that do not pass: the retries are bounded, the error says what failed", async () => {
    d.faults.inject({ path: "/server/hdlib", status: 502 });
    const run = await build(source());
    expect(run.result.ok).toBe(false);
    expect(errorText(run)).toMatch(/\[kamatera\] POST \/server\/hdlib: 502/);
    expect(run.log.match(/POST \/server\/hdlib: 502 Bad Gateway; retrying/g)?.length).toBe(4);
  });

  it("a slow queue: wait_timeout ends the create wait; the server is found by name and terminated", async () => {
    d.faults.slowCommands("create", 4000);
    const t0 = Date.now();
    const run = await build(source("wait_timeout: 1s"));
    expect(run.result.ok).toBe(false);
    expect(errorOf(run)?.code).toBe("KILN_KAMATERA_TIMEOUT");
    expect(errorText(run)).toMatch(
      /creating server kiln-box-\S+ did not finish within wait_timeout 1s \(command \d+, last status "running"\)/,
    );
    expect(run.log).toMatch(/Server kiln-box-\S+ is terminated/);
    expect(Date.now() - t0).toBeLessThan(15_000);
  });

  it("a create command that never finishes: the same, within about wait_timeout", async () => {
    d.faults.stickCommand("create");
    const run = await build(source("wait_timeout: 1s"));
    expect(errorOf(run)?.code).toBe("KILN_KAMATERA_TIMEOUT");
    expect(run.log).toMatch(/Server kiln-box-\S+ is terminated/);
  });

  it("a create command that ends in error with a log: the log is the error; the half-made server is terminated", async () => {
    d.faults.failCommand("create", "Insufficient resources in datacenter EU");
    const run = await build(source());
    expect(errorOf(run)?.code).toBe("KILN_KAMATERA_COMMAND");
    expect(errorText(run)).toMatch(
      /creating server kiln-box-\S+ failed \(command \d+, status error\): Insufficient resources in datacenter EU/,
    );
    expect(run.log).toMatch(/Server kiln-box-\S+ is terminated/);
  });

  it("a status kiln does not know ends the wait at once (no 40-minute loop); cancelled is a failure", async () => {
    d.faults.oddStatus("poweroff", "paused");
    const t0 = Date.now();
    const run = await build(source("wait_timeout: 30m"));
    expect(errorOf(run)?.code).toBe("KILN_KAMATERA_COMMAND_STATUS");
    expect(errorText(run)).toMatch(/command \d+ has status "paused"/);
    expect(Date.now() - t0).toBeLessThan(15_000);
    d.faults.oddStatus("clone", "cancelled");
    const c = await build(source());
    expect(errorText(c)).toMatch(
      /cloning disk 0 of kiln-box-\S+ to kiln-api-\d+ failed \(command \d+, status cancelled\)/,
    );
  });

  it("a lost server: a clear error, and cleanup has nothing to terminate", async () => {
    d.faults.before({ path: "/service/server/info" }, async () => {
      const s = [...d.account.servers.values()][0];
      if (s) await d.faults.loseServer(s.name);
    });
    const run = await build(source());
    expect(errorOf(run)?.code, errorText(run)).toBe("KILN_KAMATERA_LOST");
    expect(errorText(run)).toMatch(/server kiln-box-\S+ is not in the server info any more/);
    expect(run.log).toMatch(/nothing to terminate/);
  });

  it("no external IP: a clear error naming the WAN interface and ssh_host", async () => {
    d.faults.before({ path: "/service/server/ssh" }, () => {
      const s = [...d.account.servers.values()][0];
      if (s) d.faults.noExternalIp(s.name);
    });
    const run = await build(source("communicator: ssh\nssh_timeout: 2s\npoll_interval: 20ms"));
    expect(errorOf(run)?.code).toBe("KILN_KAMATERA_ADDRESS");
    expect(errorText(run)).toMatch(/has no external IP[\s\S]*Set ssh_host/);
  });

  it("a terminate that fails once is tried again: the build succeeds, nothing left", async () => {
    d.faults.failCommand("terminate", "Terminate failed: storage busy");
    const run = await build(source());
    expect(run.result.ok, run.log).toBe(true);
    expect(run.log).toMatch(/Terminating kiln-box-\S+ failed: .*storage busy; trying again/);
  });

  it("a terminate that keeps failing is an error naming the server (still billed), and the build fails", async () => {
    d.faults.failCommand("terminate", "Terminate failed: storage busy", 3);
    const run = await build(source());
    const name = d.leftovers().servers[0] as string;
    try {
      expect(run.result.ok).toBe(false);
      expect(errorOf(run)?.code).toBe("KILN_KAMATERA_TERMINATE");
      expect(errorText(run)).toMatch(
        new RegExp(`could not terminate server ${name} \\(3 attempts\\)[\\s\\S]*still exists and is billed`),
      );
      expect(run.events.find((e) => e.type === "cleanup" && !e.ok)).toMatchObject({ step: "create server" });
    } finally {
      // Remove what the fault left, so the next test starts empty.
      const auth = { clientId: d.clientId, secret: d.secret };
      await request(d.url, "POST", "/service/server/terminate", { auth, body: { name, force: true } });
      for (let i = 0; i < 100 && JSON.stringify(d.leftovers()) !== EMPTY; i++)
        await new Promise((r) => setTimeout(r, 20));
    }
  });

  it("command ids as numbers or a map are understood", async () => {
    d.faults.idShape("numbers");
    const r1 = await build(source());
    expect(r1.result.ok, r1.log).toBe(true);
    d.faults.idShape("map");
    expect((await build(source())).result.ok).toBe(true);
  });

  it("Ctrl-C during the create wait: the server is found by name and terminated", async () => {
    d.faults.slowCommands("create", 3000);
    const ctl = new AbortController();
    d.faults.before({ path: "/service/queue" }, () => ctl.abort(new Error("interrupted (test)")));
    const run = await build(source(), { signal: ctl.signal });
    expect(run.result.ok).toBe(false);
    expect(run.log).toMatch(/Server kiln-box-\S+ is terminated/);
  });
});

describe("the examples", () => {
  const EXAMPLES = fileURLToPath(new URL("../../../examples/kamatera/", import.meta.url));
  const KILN = fileURLToPath(new URL("../../cli/bin.js", import.meta.url));

  it.each(["ubuntu.yaml", "windows.yaml"])("examples/kamatera/%s passes kiln validate", async (file) => {
    const { spawnSync } = await import("node:child_process");
    const r = spawnSync(process.execPath, [KILN, "validate", `${EXAMPLES}${file}`], {
      encoding: "utf8",
      env: { ...process.env, NO_COLOR: "1" },
      timeout: 30_000,
    });
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/valid \(1 source, 1 build, 1 run\)/);
    expect(r.status).toBe(0);
  });

  it("examples/kamatera/windows.yaml (Kamatera's Windows example) runs as it stands, the API key from KAMATERA_*", async () => {
    const { readFileSync } = await import("node:fs");
    const saved = { ...process.env };
    Object.assign(process.env, {
      KAMATERA_API_URL: d.url,
      KAMATERA_API_CLIENT_ID: d.clientId,
      KAMATERA_API_SECRET: d.secret,
    });
    try {
      const run = await build(readFileSync(`${EXAMPLES}windows.yaml`, "utf8"));
      expect(run.result.ok, run.log).toBe(true);
      const flags = calls("server.create").at(-1)?.flags;
      expect(flags).toMatchObject({ image: "windows_server_2022_datacenter_64-bit", cpu: "2B", ram: "4096" });
      expect(String(flags?.["script-file"])).toMatch(/Stop-Computer -Force\n$/);
      expect(run.log).toMatch(/is off: the script has finished/);
      expect(run.result.runs[0]?.artifacts[0]?.id).toMatch(/^windows-2022-\d{4}-\d\d-\d\dT\d{6}Z$/);
      expect(JSON.stringify(run.events)).not.toContain(d.secret);
    } finally {
      for (const k of ["KAMATERA_API_URL", "KAMATERA_API_CLIENT_ID", "KAMATERA_API_SECRET"])
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
    }
  });
});
