/**
 * The MachineHost over the shared guest runner (@kiln/testbed-guests): each server is a real
 * QEMU guest (TCG) with its own address from the runner's pool (its external IP: 198.18.0.0/15
 * on lo as root, else 127.0.0.N), port 22 forwarded on it, disks of its own — disk 0 a
 * qcow2 overlay on its image's file (an appliance, Debian or a library image), the others blank
 * — and a NoCloud seed with the first-boot data: `ssh-key` → root's authorized_keys, the
 * password → root's, `script-file` → runcmd `[sh, -c, <script>]`, under one instance-id per
 * server so that it is applied at the first boot only. Power on starts QEMU, ACPI shutdown and
 * hard power off end it, a guest that powers itself off is reported; a clone of a disk is a
 * standalone qcow2 (`qemu-img convert`, which flattens the overlay chain).
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  cloudConfig,
  createDisk,
  createOverlay,
  diskInfo,
  type Guest,
  GuestRunner,
  type GuestRunnerOptions,
  metaData,
} from "@kiln/testbed-guests";
import type { Machine, MachineHost, MachineSpec } from "./machine.js";

const GiB = 1024 ** 3;

export interface GuestHostOptions extends Pick<GuestRunnerOptions, "console"> {
  /** Memory of a guest at most (TCG on a shared machine). Default 512 MiB. */
  maxMemoryMiB?: number;
}

function qemuImg(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn("qemu-img", args, { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    p.stderr.on("data", (d) => {
      err += d;
    });
    p.on("error", reject);
    p.on("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`qemu-img ${args[0]}: ${err.trim()}`)),
    );
  });
}

/**
 * The first-boot command that runs `script-file`: written to a file and run with bash (sh where
 * there is none, as on the appliance). The script travels base64-encoded, one line: the
 * appliance's seed reader keeps runcmd entries on one line each.
 */
export function scriptCommand(script: string, file = "/run/kamatera-script"): string {
  const b64 = Buffer.from(script, "utf8").toString("base64");
  return `echo ${b64} | base64 -d > ${file} && if command -v bash >/dev/null; then bash ${file}; else sh ${file}; fi`;
}

/** The seed's user-data: the appliance reads it for root; cloud-init (Debian) gets root's keys through users. */
export function seedUserData(spec: MachineSpec): string {
  const keys = spec.seed.sshKeys;
  return cloudConfig({
    hostname: spec.seed.hostname,
    sshAuthorizedKeys: keys,
    ...(spec.seed.password ? { password: spec.seed.password } : {}),
    ...(spec.seed.script ? { runcmd: [["sh", "-c", scriptCommand(spec.seed.script)]] } : {}),
    ...(keys.length
      ? {
          extra: `disable_root: false\nusers:\n  - default\n  - name: root\n    ssh_authorized_keys:\n${keys.map((k) => `      - ${JSON.stringify(k)}`).join("\n")}`,
        }
      : {}),
  });
}

class GuestMachine implements Machine {
  private guest: Guest | undefined;
  private readonly exitCbs: Array<() => void> = [];
  private stopping = false;
  sshPort = 22;

  constructor(
    private readonly host: GuestHost,
    readonly spec: MachineSpec,
    readonly ip: string,
    readonly diskFiles: string[],
    private readonly dir: string,
    private readonly guestName: string,
    private readonly memoryMiB: number,
  ) {}

  running(): boolean {
    return this.guest?.running ?? false;
  }

  async powerOn(): Promise<void> {
    if (this.running()) return;
    this.stopping = false;
    const g = await this.host.runner.start({
      name: this.guestName,
      memoryMiB: this.memoryMiB,
      cpus: 1,
      address: this.ip,
      disks: this.diskFiles.map((file, i) => ({
        file,
        format: "qcow2",
        ...(i === 0 ? { bootIndex: 1 } : {}),
      })),
      seed: {
        userData: seedUserData(this.spec),
        metaData: metaData(`kamatera-${this.spec.id}`, this.spec.seed.hostname),
      },
      forward: [22],
      agent: false,
    });
    this.guest = g;
    this.sshPort = g.port(22);
    g.onExit(() => {
      if (this.guest === g) this.guest = undefined;
      if (!this.stopping) for (const cb of this.exitCbs) cb();
    });
  }

  async shutdown(timeoutMs: number): Promise<void> {
    const g = this.guest;
    if (!g?.running) return;
    this.stopping = true;
    await g.shutdown(timeoutMs);
  }

  async powerOff(): Promise<void> {
    const g = this.guest;
    if (!g?.running) return;
    this.stopping = true;
    await g.stop();
  }

  async copyDisk(index: number, dest: string): Promise<string> {
    const src = this.diskFiles[index];
    if (!src) throw new Error(`no disk ${index}`);
    const out = `${dest}.qcow2`;
    fs.mkdirSync(path.dirname(out), { recursive: true });
    const tmp = `${out}.part`;
    try {
      // -U: a crash-consistent copy of a running guest's disk (QEMU holds its write lock).
      await qemuImg(["convert", ...(this.running() ? ["-U"] : []), "-O", "qcow2", src, tmp]);
      fs.renameSync(tmp, out);
    } finally {
      fs.rmSync(tmp, { force: true });
    }
    return out;
  }

  onExit(cb: () => void): void {
    this.exitCbs.push(cb);
  }

  /** The guest's serial console so far ("" when it never ran). */
  console(): string {
    try {
      return this.guest ? fs.readFileSync(this.guest.consoleLog, "utf8") : "";
    } catch {
      return "";
    }
  }

  async destroy(): Promise<void> {
    this.stopping = true;
    await this.guest?.kill();
    this.guest = undefined;
    fs.rmSync(this.dir, { recursive: true, force: true });
    this.host.forget(this);
  }
}

export class GuestHost implements MachineHost {
  readonly runner: GuestRunner;
  private readonly machines = new Set<GuestMachine>();
  private readonly root = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-kamatera-disks-"));

  constructor(private readonly o: GuestHostOptions = {}) {
    this.runner = new GuestRunner({ ...(o.console ? { console: o.console } : {}), forward: [22] });
  }

  async create(spec: MachineSpec): Promise<Machine> {
    const base = spec.disks[0]?.base;
    if (!base) throw new Error(`the test bed has no disk file for this server's image (${spec.name})`);
    const dir = fs.mkdtempSync(path.join(this.root, `${spec.id.slice(0, 8)}-`));
    const ip = this.runner.addresses.allocate();
    try {
      const files: string[] = [];
      for (const [i, d] of spec.disks.entries()) {
        const file = path.join(dir, `disk${i}.qcow2`);
        if (i === 0 && d.base) {
          // Cosmetic growth only: the image's partition keeps its size (testbed/appliance "Limitations").
          const size = Math.max((await diskInfo(d.base)).virtualSize, d.sizeGB * GiB);
          await createOverlay(d.base, file, { sizeBytes: size });
        } else await createDisk(file, d.sizeGB * GiB);
        files.push(file);
      }
      const name = `kam-${spec.name.replace(/[^A-Za-z0-9_.-]/g, "_").slice(0, 40)}-${spec.id.slice(0, 8)}`;
      const m = new GuestMachine(
        this,
        spec,
        ip,
        files,
        dir,
        name,
        Math.min(spec.ramMiB, this.o.maxMemoryMiB ?? 512),
      );
      this.machines.add(m);
      return m;
    } catch (e) {
      fs.rmSync(dir, { recursive: true, force: true });
      this.runner.addresses.release(ip);
      throw e;
    }
  }

  forget(m: GuestMachine): void {
    if (this.machines.delete(m)) this.runner.addresses.release(m.ip);
  }

  alive(): string[] {
    return [...this.machines].map((m) => m.spec.name);
  }

  /** Running guests (QEMU processes), for the leftover checks of tests. */
  guests(): string[] {
    return this.runner.list().map((g) => g.name);
  }

  async close(): Promise<void> {
    for (const m of [...this.machines]) await m.destroy();
    await this.runner.close();
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}
