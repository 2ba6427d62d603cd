/**
 * Smoke test of the test appliance under real QEMU (TCG): the installer ISO takes a
 * typed boot command, installs over HTTP and reboots into SSH; disk.qcow2 reads a
 * NoCloud seed. Skips where QEMU is missing, unless CI=true.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { createQmpKeyDriver, parseBootCommand, QmpClient, typeBootCommand } from "@kiln/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { APPLIANCE_DIR, type Appliance, ensureAppliance, MARKERS, missingHostTools } from "./appliance.js";

const missing = missingHostTools();
const CI = process.env.CI === "true";
if (missing.length > 0) {
  const msg = `appliance tests need host tools: ${missing.join(", ")} (apt-get install qemu-system-x86 qemu-utils xorriso)`;
  if (CI) throw new Error(msg);
  console.warn(`SKIP ${msg}`);
}

// ---------------------------------------------------------------- ssh2 (a dependency of @kiln/sdk)
interface SshStream {
  on(ev: "data", cb: (d: Buffer) => void): SshStream;
  on(ev: "close", cb: (code: number | null) => void): SshStream;
  stderr: { on(ev: "data", cb: (d: Buffer) => void): void };
}
interface SshClient {
  on(ev: "ready", cb: () => void): SshClient;
  on(ev: "error", cb: (e: Error) => void): SshClient;
  connect(cfg: Record<string, unknown>): void;
  exec(cmd: string, cb: (err: Error | undefined, stream: SshStream) => void): void;
  end(): void;
}
interface Ssh2 {
  Client: new () => SshClient;
  utils: {
    generateKeyPairSync(type: "ed25519", opts?: { comment?: string }): { private: string; public: string };
  };
}
function loadSsh2(): Ssh2 {
  const roots = [import.meta.url, path.join(APPLIANCE_DIR, "../../packages/sdk/package.json")];
  for (const from of roots) {
    try {
      return createRequire(from)("ssh2") as Ssh2;
    } catch {
      // try the next place
    }
  }
  throw new Error("ssh2 not found (it comes with packages/sdk: run pnpm install)");
}

async function sshRun(
  port: number,
  auth: { password?: string; privateKey?: string },
  command: string,
): Promise<{ code: number | null; stdout: string }> {
  const { Client } = loadSsh2();
  return await new Promise((resolve, reject) => {
    const c = new Client();
    c.on("error", reject);
    c.on("ready", () => {
      c.exec(command, (err, stream) => {
        if (err) {
          c.end();
          reject(err);
          return;
        }
        let stdout = "";
        stream.on("data", (d) => {
          stdout += d.toString();
        });
        stream.stderr.on("data", () => {});
        stream.on("close", (code) => {
          c.end();
          resolve({ code, stdout });
        });
      });
    });
    c.connect({ host: "127.0.0.1", port, username: "root", readyTimeout: 30_000, ...auth });
  });
}

async function sshRetry(
  port: number,
  auth: { password?: string; privateKey?: string },
  command: string,
  timeoutMs = 60_000,
): Promise<{ code: number | null; stdout: string }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await sshRun(port, auth, command);
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await sleep(1000);
    }
  }
}

// ---------------------------------------------------------------- QEMU plumbing
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const vms = new Set<ChildProcess>();
const servers = new Set<http.Server>();
const tmpDirs: string[] = [];

function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-appliance-test-"));
  tmpDirs.push(d);
  return d;
}

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

class Vm {
  serial = "";
  exitCode: number | null | undefined = undefined;
  readonly exited: Promise<number | null>;
  readonly started = Date.now();
  constructor(
    readonly proc: ChildProcess,
    readonly qmpPath: string,
    readonly sshPort: number,
  ) {
    proc.stdout?.setEncoding("utf8").on("data", (d: string) => {
      this.serial += d;
      if (process.env.KILN_APPLIANCE_DEBUG) process.stderr.write(d);
    });
    proc.stderr?.setEncoding("utf8").on("data", (d: string) => {
      this.serial += d;
    });
    this.exited = new Promise((resolve) =>
      proc.on("exit", (code) => {
        this.exitCode = code;
        vms.delete(proc);
        resolve(code);
      }),
    );
  }
  elapsed(): string {
    return `${((Date.now() - this.started) / 1000).toFixed(1)}s`;
  }
  /** Waits until the serial console matches `re` (searching from `from`); returns the match end. */
  async waitFor(re: RegExp, timeoutMs: number, from = 0): Promise<{ index: number; match: RegExpExecArray }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const tail = this.serial.slice(from);
      const m = re.exec(tail);
      if (m) return { index: from + m.index + m[0].length, match: m };
      if (this.exitCode !== undefined) {
        throw new Error(`QEMU exited (${this.exitCode}) before ${re}; console:\n${this.serial.slice(-3000)}`);
      }
      if (/KILN-(INSTALL-FAILED|ERROR)/.test(tail)) {
        throw new Error(`guest failed while waiting for ${re}; console:\n${this.serial.slice(-3000)}`);
      }
      if (Date.now() > deadline) {
        throw new Error(
          `timed out after ${timeoutMs} ms waiting for ${re}; console:\n${this.serial.slice(-3000)}`,
        );
      }
      await sleep(100);
    }
  }
}

async function startVm(dir: string, args: string[]): Promise<Vm> {
  const qmpPath = path.join(dir, "qmp.sock");
  const sshPort = await freePort();
  const proc = spawn(
    "qemu-system-x86_64",
    [
      ...["-accel", "tcg", "-m", "512", "-smp", "1"],
      ...["-display", "none", "-nodefaults", "-vga", "std", "-serial", "stdio"],
      ...["-qmp", `unix:${qmpPath},server=on,wait=off`],
      ...["-nic", `user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:${sshPort}-:22`],
      ...args,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  vms.add(proc);
  return new Vm(proc, qmpPath, sshPort);
}

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed: ${r.stderr}`);
}

// ---------------------------------------------------------------- tests
describe.skipIf(missing.length > 0)("test appliance under QEMU TCG", () => {
  let appliance: Appliance;

  beforeAll(async () => {
    appliance = await ensureAppliance({ log: (l) => process.env.KILN_APPLIANCE_DEBUG && console.log(l) });
  }, 900_000);

  afterAll(async () => {
    for (const p of vms) p.kill("SIGKILL");
    vms.clear();
    for (const s of servers) s.close();
    servers.clear();
    for (const d of tmpDirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });

  it("builds the artifacts", () => {
    for (const f of [appliance.installerIso, appliance.disk, appliance.kernel, appliance.initrd]) {
      expect(fs.statSync(f).size).toBeGreaterThan(0);
    }
  });

  it("installs from the ISO with a typed boot command, reboots into SSH, powers off on ACPI", async () => {
    const dir = tmpDir();
    const key = loadSsh2().utils.generateKeyPairSync("ed25519", { comment: "kiln-install-test" });
    const config = [
      "# kiln appliance config",
      "hostname=kiln-smoke",
      "password=Sm0ke-pass",
      `authorized_key=${key.public}`,
      "",
    ].join("\n");
    let fetched = 0;
    const server = http.createServer((req, res) => {
      if (req.url === "/config") {
        fetched++;
        res.writeHead(200, { "content-type": "text/plain" }).end(config);
      } else {
        res.writeHead(404).end();
      }
    });
    servers.add(server);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const httpPort = (server.address() as AddressInfo).port;

    const disk = path.join(dir, "disk.qcow2");
    run("qemu-img", ["create", "-q", "-f", "qcow2", disk, "1G"]);
    const vm = await startVm(dir, [
      ...["-drive", `file=${disk},if=virtio,format=qcow2`],
      ...["-cdrom", appliance.installerIso, "-boot", "order=c,once=d"],
    ]);
    const qmp = await QmpClient.connect(vm.qmpPath, { timeout: 20_000 });
    try {
      await vm.waitFor(/boot: /, 60_000);
      const bootPromptAt = vm.elapsed();
      const command = `install url=http://10.0.2.2:${httpPort}/config`;
      await typeBootCommand(parseBootCommand([`${command}<enter>`]), createQmpKeyDriver(qmp));
      const { match } = await vm.waitFor(/KILN-CMDLINE: (.*)/, 60_000);
      expect(match[1]).toContain(`kiln.mode=install url=http://10.0.2.2:${httpPort}/config`);
      const done = await vm.waitFor(new RegExp(MARKERS.installDone), 180_000);
      const installedAt = vm.elapsed();
      expect(fetched).toBeGreaterThan(0);
      await vm.waitFor(new RegExp(MARKERS.ready), 120_000, done.index);
      console.log(
        `install test: boot prompt ${bootPromptAt}, installed ${installedAt}, ready ${vm.elapsed()}`,
      );

      const pw = await sshRetry(
        vm.sshPort,
        { password: "Sm0ke-pass" },
        "hostname; cat /etc/kiln/version; id -u",
      );
      expect(pw.code).toBe(0);
      expect(pw.stdout).toMatch(/^kiln-smoke\n/);
      expect(pw.stdout).toMatch(/\n0\n$/);
      const byKey = await sshRetry(vm.sshPort, { privateKey: key.private }, "echo key-ok");
      expect(byKey.stdout.trim()).toBe("key-ok");

      const t0 = Date.now();
      await qmp.execute("system_powerdown");
      const code = await Promise.race([vm.exited, sleep(60_000).then(() => "timeout" as const)]);
      expect(code).toBe(0);
      console.log(`install test: ACPI power-off took ${((Date.now() - t0) / 1000).toFixed(1)}s`);
      expect(vm.serial).toContain(MARKERS.shutdown);
    } finally {
      qmp.destroy();
      server.close();
    }
  }, 480_000);

  it("boots disk.qcow2 with a NoCloud cidata seed (keys, hostname, runcmd) and powers off from inside", async () => {
    const dir = tmpDir();
    const key = loadSsh2().utils.generateKeyPairSync("ed25519", { comment: "kiln-cidata-test" });
    const seedDir = path.join(dir, "seed");
    fs.mkdirSync(seedDir);
    fs.writeFileSync(
      path.join(seedDir, "meta-data"),
      "instance-id: iid-kiln-test-1\nlocal-hostname: from-meta\n",
    );
    fs.writeFileSync(
      path.join(seedDir, "user-data"),
      [
        "#cloud-config",
        "hostname: kiln-seeded",
        "ssh_authorized_keys:",
        `  - ${key.public}`,
        "chpasswd:",
        "  expire: false",
        "  list: |",
        "    root:seeded-pass",
        "runcmd:",
        "  - echo runcmd-ran > /root/runcmd.txt",
        '  - [ sh, -c, "echo flow-list-ran >> /root/runcmd.txt" ]',
        "",
      ].join("\n"),
    );
    const seed = path.join(dir, "seed.iso");
    run("xorriso", ["-as", "mkisofs", "-quiet", "-o", seed, "-V", "cidata", "-J", "-r", seedDir]);
    const overlay = path.join(dir, "overlay.qcow2");
    run("qemu-img", ["create", "-q", "-f", "qcow2", "-b", appliance.disk, "-F", "qcow2", overlay]);

    const vm = await startVm(dir, [...["-drive", `file=${overlay},if=virtio,format=qcow2`], "-cdrom", seed]);
    const { match } = await vm.waitFor(/KILN-CIDATA: (.*)/, 120_000);
    expect(match[1]).toContain("applied");
    await vm.waitFor(new RegExp(MARKERS.ready), 120_000);
    console.log(`cidata test: ready ${vm.elapsed()}`);

    const r = await sshRetry(vm.sshPort, { privateKey: key.private }, "hostname; cat /root/runcmd.txt");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("kiln-seeded\nruncmd-ran\nflow-list-ran\n");
    const pw = await sshRetry(vm.sshPort, { password: "seeded-pass" }, "echo pw-ok");
    expect(pw.stdout.trim()).toBe("pw-ok");

    // `poweroff` from inside the guest ends QEMU on its own.
    await sshRun(vm.sshPort, { privateKey: key.private }, "poweroff").catch(() => undefined);
    const code = await Promise.race([vm.exited, sleep(60_000).then(() => "timeout" as const)]);
    expect(code).toBe(0);
  }, 300_000);
});
