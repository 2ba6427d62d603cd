/**
 * The in-memory MachineHost, for the double's API logic and the builder's API tests: machines
 * do not boot, but their disks are real (small) files, copies are real files, power changes
 * after a delay, and a first-boot script whose last line powers the machine off (`poweroff`,
 * `shutdown -h now`, `Stop-Computer`) turns it off after `scriptMs` — the one thing of a
 * script this host imitates, so that disable_ssh builds can be tested without QEMU.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Machine, MachineHost, MachineSpec } from "./machine.js";

export interface MemoryHostOptions {
  /** How long an ACPI shutdown takes. Default 20 ms. */
  shutdownMs?: number;
  /** How long after power-on a script ending in a power-off turns the machine off. Default 50 ms. */
  scriptMs?: number;
  /** The port the machines' SSH is said to be on. Default 2222. */
  sshPort?: number;
}

const POWERS_OFF = /(^|\n)\s*(poweroff|shutdown\s+(-h|-P)|halt -p|Stop-Computer)\b[^\n]*\s*$/;

export class MemoryMachine implements Machine {
  readonly diskFiles: string[];
  private on = false;
  private exitCbs: Array<() => void> = [];
  private timer: NodeJS.Timeout | undefined;
  private booted = false;
  destroyed = false;

  constructor(
    readonly spec: MachineSpec,
    readonly ip: string,
    readonly sshPort: number,
    private readonly dir: string,
    private readonly o: Required<MemoryHostOptions>,
    private readonly release: () => void,
  ) {
    this.diskFiles = spec.disks.map((d, i) => {
      const file = path.join(dir, `disk${i}.img`);
      const head = `kiln memory disk ${spec.name} ${i} ${d.sizeGB}G\n`;
      fs.writeFileSync(file, d.base ? Buffer.concat([Buffer.from(head), fs.readFileSync(d.base)]) : head);
      return file;
    });
  }

  running(): boolean {
    return this.on;
  }

  async powerOn(): Promise<void> {
    this.on = true;
    const first = !this.booted;
    this.booted = true;
    if (first && this.spec.seed.script && POWERS_OFF.test(this.spec.seed.script.trimEnd()))
      this.timer = setTimeout(() => this.exitByItself(), this.o.scriptMs);
  }

  private exitByItself(): void {
    if (!this.on) return;
    this.on = false;
    for (const cb of this.exitCbs) cb();
  }

  async shutdown(timeoutMs: number): Promise<void> {
    if (!this.on) return;
    if (this.o.shutdownMs > timeoutMs)
      throw new Error(`the machine did not power off within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, this.o.shutdownMs));
    this.on = false;
  }

  async powerOff(): Promise<void> {
    clearTimeout(this.timer);
    this.on = false;
  }

  async copyDisk(index: number, dest: string): Promise<string> {
    const src = this.diskFiles[index];
    if (!src) throw new Error(`no disk ${index}`);
    const out = `${dest}.img`;
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.copyFileSync(src, out);
    return out;
  }

  onExit(cb: () => void): void {
    this.exitCbs.push(cb);
  }

  async destroy(): Promise<void> {
    clearTimeout(this.timer);
    this.on = false;
    if (this.destroyed) return;
    this.destroyed = true;
    fs.rmSync(this.dir, { recursive: true, force: true });
    this.release();
  }
}

export class MemoryHost implements MachineHost {
  readonly machines = new Map<string, MemoryMachine>();
  private readonly root = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-kamatera-mem-"));
  /**
   * Distinct external IPs 203.0.113.2…254 (RFC 5737 TEST-NET-3: documentation addresses, never
   * routed; a cloud never hands out 127.x). Nothing binds them: these machines do not boot.
   */
  private readonly used = new Set<number>();
  private readonly o: Required<MemoryHostOptions>;

  constructor(o: MemoryHostOptions = {}) {
    this.o = { shutdownMs: o.shutdownMs ?? 20, scriptMs: o.scriptMs ?? 50, sshPort: o.sshPort ?? 2222 };
  }

  async create(spec: MachineSpec): Promise<MemoryMachine> {
    let n = 2;
    while (this.used.has(n)) n++;
    if (n > 254) throw new Error("no free external IP for another machine (203.0.113.2-254)");
    this.used.add(n);
    const ip = `203.0.113.${n}`;
    const dir = fs.mkdtempSync(path.join(this.root, `${spec.name}-`));
    const m = new MemoryMachine(spec, ip, this.o.sshPort, dir, this.o, () => {
      this.used.delete(n);
      this.machines.delete(spec.id);
    });
    this.machines.set(spec.id, m);
    return m;
  }

  alive(): string[] {
    return [...this.machines.values()].map((m) => m.spec.name);
  }

  async close(): Promise<void> {
    for (const m of [...this.machines.values()]) await m.destroy();
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}
