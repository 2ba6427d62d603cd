/**
 * The kamatera builder end to end against the Kamatera API double whose servers are real QEMU
 * guests (TCG) of kiln's test appliance, through the shared guest runner — each server with its
 * own external IP (198.18.0.0/15 on the host's lo as root, as a cloud's would look; port 22
 * forwarded there):
 *
 *  1. A build over SSH: the server boots from the appliance image with kiln's temporary ed25519
 *     key for root (sent as `ssh-key`), kiln connects to the IP the API reports, a shell
 *     provisioner writes /root/kiln-marker, the server is powered off (ACPI), its disk cloned
 *     into the hard-disk library as a standalone qcow2, the server terminated. A second server,
 *     created through the API from that library image with a generated password, boots from
 *     the clone: SSH with that password shows the marker.
 *  2. disable_ssh + script: the script (sent as `script-file`) runs at first boot through the
 *     guest's seed and powers the server off; kiln waits for that and saves the disk; the file
 *     the script wrote is in the library image (read offline with debugfs).
 *
 * Three appliance boots in all. Run under `flock /tmp/kiln-qemu.lock`.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildFile, ensureDist, makeScratch } from "@kiln/sdk/testing";
import { ensureImage } from "@kiln/testbed-guests/images";
import { CI, guestIp, missingQemu, sshRun } from "@kiln/testbed-guests/testing";
import {
  DEFAULT_IMAGES,
  GuestHost,
  type KamateraDouble,
  request,
  startKamateraDouble,
  waitCommand,
} from "@kiln-testbed/kamatera";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const PKG_DIR = fileURLToPath(new URL("..", import.meta.url));
const RESOLVER = {
  standard: {
    builder: { kamatera: "@kiln/builder-kamatera" },
    provisioner: { shell: "@kiln/provisioners" },
  },
};
// Guests forward port 22 on their own address (198.18.0.0/15 on lo), which needs root: to add
// the address and to bind port 22.
const why =
  missingQemu() ||
  (spawnSync("sh", ["-c", "command -v debugfs"]).status !== 0
    ? "missing debugfs (apt-get install e2fsprogs)"
    : "") ||
  (process.getuid?.() !== 0
    ? "not root: guests' addresses cannot be put on lo, nor port 22 forwarded there"
    : "");
const skip = why !== "" && !CI;

describe.skipIf(skip)(`kamatera builder with real guests${skip ? ` (skipped: ${why})` : ""}`, () => {
  let d: KamateraDouble;
  let host: GuestHost;
  let dir: string;
  const consoleLines: string[] = [];
  const auth = () => ({ clientId: d.clientId, secret: d.secret });
  const tail = () => `\n--- consoles ---\n${consoleLines.slice(-40).join("\n")}`;

  beforeAll(async () => {
    ensureDist(PKG_DIR);
    const img = await ensureImage("appliance");
    host = new GuestHost({ console: (name, line) => consoleLines.push(`${name}| ${line}`) });
    d = await startKamateraDouble({
      host,
      images: DEFAULT_IMAGES.map((i) => (i.name === "kiln_appliance_64-bit" ? { ...i, file: img.file } : i)),
      commandDurationMs: 200,
      shutdownTimeoutMs: 60_000,
    });
    dir = makeScratch(PKG_DIR, "e2e");
  }, 600_000);

  afterAll(async () => {
    await d?.close(); // kills any guest still running, removes disks and the library
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const connection = () => `    api_url: ${d.url}
    api_client_id: ${d.clientId}
    api_secret: ${d.secret}
    datacenter: EU
    image: kiln_appliance_64-bit
    ram: 512
    poll_interval: 500ms
    wait_timeout: 5m`;

  it("builds over SSH; a server made from the library image boots and shows the marker", async () => {
    const run = await buildFile(
      dir,
      "ssh.kiln.yaml",
      `kiln: 1
sources:
  app:
    type: kamatera
${connection()}
    image_name: kiln-e2e-appliance
    ssh_timeout: 5m
builds:
  - sources: [app]
    provisioners:
      - type: shell
        inline:
          - echo "provisioned by kiln on $(hostname)" > /root/kiln-marker
          - id -un
          - grep -c ssh-ed25519 /root/.ssh/authorized_keys
`,
      { resolver: RESOLVER },
    );
    expect(run.result.ok, `${run.log}${tail()}`).toBe(true);
    expect(run.log).toMatch(/Created a temporary ed25519 key pair/);
    const create = d.account.requests.find((r) => r.endpoint === "server.create");
    expect(create?.flags?.["ssh-key"]).toMatch(/^ssh-ed25519 /);
    const ip = new RegExp(`has the external IP (${guestIp()})`).exec(run.log)?.[1];
    expect(ip).toBeDefined();
    expect(run.log).toContain(`Waiting for SSH on ${ip}:22`);
    expect(run.log).toContain("out: root");
    expect(run.log).toMatch(/Powering off kiln-app-[0-9a-f]{8}/);
    expect(run.log).toMatch(/Server kiln-app-[0-9a-f]{8} is terminated/);
    const art = run.result.runs[0]?.artifacts[0];
    expect(art).toMatchObject({ builderType: "kamatera", id: "kiln-e2e-appliance" });
    // The library image is a real, standalone disk (the overlay chain flattened).
    const lib = d.account.catalog.library().find((i) => i.name === "kiln-e2e-appliance");
    expect(lib?.file && existsSync(lib.file)).toBe(true);
    const info = JSON.parse(
      execFileSync("qemu-img", ["info", "--output=json", lib?.file as string], { encoding: "utf8" }),
    );
    expect(info.format).toBe("qcow2");
    expect(info["backing-filename"]).toBeUndefined();
    expect(d.leftovers()).toEqual({ servers: [], commands: [], machines: [] });
    expect(host.guests()).toEqual([]);

    // A second server from the library image, through the API as any client would make it.
    const r = await request(d.url, "POST", "/service/server", {
      auth: auth(),
      body: {
        name: "kiln-e2e-second",
        password: "__generate__",
        datacenter: "EU",
        image: "kiln-e2e-appliance",
        cpu: "1A",
        ram: "512",
        disk: "size=10",
        network: "name=wan,ip=auto",
      },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const { commandIds, password } = r.body as { commandIds: string[]; password: string };
    expect((await waitCommand(d.url, auth(), commandIds[0] as string, 120_000)).status).toBe("complete");
    const addr = await request(d.url, "POST", "/service/server/ssh", {
      auth: auth(),
      body: { name: "kiln-e2e-second" },
    });
    const second = (addr.body as Array<{ externalIp: string }>)[0]?.externalIp as string;
    expect(second).toMatch(new RegExp(`^${guestIp()}$`)); // a cloud never hands out 127.x
    const out = await sshRun(
      { host: second, port: 22, user: "root", password },
      "cat /root/kiln-marker; hostname",
      "3m",
    );
    expect(out.exitCode, `${out.stderr}${tail()}`).toBe(0);
    expect(out.stdout).toMatch(/^provisioned by kiln on /);
    const t = await request(d.url, "POST", "/service/server/terminate", {
      auth: auth(),
      body: { name: "kiln-e2e-second", force: true },
    });
    for (const id of t.body as string[])
      expect((await waitCommand(d.url, auth(), id, 60_000)).status).toBe("complete");
    expect(d.leftovers()).toEqual({ servers: [], commands: [], machines: [] });
    expect(host.guests()).toEqual([]);
  }, 900_000);

  it("disable_ssh + script: the first-boot script runs and powers off; its file is in the library image", async () => {
    const run = await buildFile(
      dir,
      "script.kiln.yaml",
      `kiln: 1
sources:
  win:
    type: kamatera
${connection()}
    image_name: kiln-e2e-script
    disable_ssh: true
    script_timeout: 5m
    script: |
      echo "ok from the first boot" > /root/script-ran
      sync
      poweroff
builds:
  - sources: [win]
`,
      { resolver: RESOLVER },
    );
    expect(run.result.ok, `${run.log}${tail()}`).toBe(true);
    expect(run.log).toMatch(/is off: the script has finished/);
    expect(
      d.account.requests.filter(
        (r) => r.endpoint === "server.poweroff" && r.flags?.name?.toString().startsWith("kiln-win"),
      ),
    ).toEqual([]);
    expect(run.log).not.toContain("ok from the first boot"); // the script is never logged
    const lib = d.account.catalog.library().find((i) => i.name === "kiln-e2e-script");
    expect(lib?.file).toBeDefined();
    const raw = join(dir, "script.raw");
    execFileSync("qemu-img", ["convert", "-O", "raw", lib?.file as string, raw]);
    try {
      const text = execFileSync("debugfs", ["-R", "cat /root/script-ran", `${raw}?offset=1048576`], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
      });
      expect(text).toBe("ok from the first boot\n");
    } finally {
      rmSync(raw, { force: true });
    }
    expect(d.leftovers()).toEqual({ servers: [], commands: [], machines: [] });
    expect(host.guests()).toEqual([]);
  }, 600_000);
});
