/**
 * GuestRunner: real QEMU guests (TCG only: /dev/kvm hangs guests on the test machines) for the
 * API doubles. Each guest gets its own host address (default-pool.ts: 198.18.0.0/15 on lo as
 * root, else 127.0.0.N) with its forwarded ports, a console
 * log, a QMP socket and (by default) the guest-agent channel; `close()` leaves nothing behind:
 * no QEMU process, overlay, seed, socket or log, and its addresses are released.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { QmpClient } from "@kiln/sdk";
import type { AddressPool } from "./addresses.js";
import { GuestAgent } from "./agent.js";
import { followFile } from "./console.js";
import { defaultAddressPool } from "./default-pool.js";
import { createOverlay, diskInfo } from "./disks.js";
import { Guest, type GuestExit, type GuestInfo } from "./guest.js";
import { choosePorts, type Forward } from "./ports.js";
import { placeDisks, qemuArgs, type ResolvedDisk } from "./qemu-args.js";
import { writeSeedIso } from "./seed.js";
import type { GuestSpec } from "./spec.js";

export interface GuestRunnerOptions {
  /** qemu-system-x86_64 binary (default from PATH). */
  qemu?: string;
  /** Directory for sockets, seeds, overlays and console logs (default: a temp dir, removed on close). */
  runDir?: string;
  /** Where guest addresses come from (default: defaultAddressPool(), 198.18.0.0/15 on lo as root). */
  addresses?: AddressPool;
  /** Receives every guest's console output, line by line. */
  console?: (guest: string, line: string) => void;
  /** Guest ports forwarded when a spec has no `forward` (default [22]). */
  forward?: (number | Forward)[];
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export class GuestRunner {
  readonly addresses: AddressPool;
  readonly runDir: string;
  private readonly ownRunDir: boolean;
  private readonly guests = new Map<string, Guest>();
  private readonly starting = new Set<string>();
  private readonly exitCbs: ((g: Guest, e: GuestExit) => void)[] = [];
  private readonly onProcessExit = () => this.killSync();
  private closed = false;

  constructor(private readonly o: GuestRunnerOptions = {}) {
    this.addresses = o.addresses ?? defaultAddressPool();
    this.ownRunDir = !o.runDir;
    // unix socket paths must stay short (108 bytes)
    this.runDir = o.runDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "kguest-"));
    fs.mkdirSync(this.runDir, { recursive: true });
    process.once("exit", this.onProcessExit);
  }

  /** Powers a guest on; resolves once QEMU runs and answers QMP (not when the guest has booted). */
  async start(spec: GuestSpec): Promise<Guest> {
    if (this.closed) throw new Error("GuestRunner is closed");
    if (!NAME.test(spec.name))
      throw new Error(
        `guest name ${JSON.stringify(spec.name)}: use 1-64 of A-Z a-z 0-9 _ . - (it names files)`,
      );
    if (this.guests.has(spec.name) || this.starting.has(spec.name))
      throw new Error(`guest ${spec.name} is already running`);
    if (spec.address !== undefined && !this.addresses.contains(spec.address))
      throw new Error(
        `guest ${spec.name}: address ${spec.address} is not one of the runner's (${this.addresses.range})`,
      );
    this.starting.add(spec.name);
    const file = (suffix: string) => path.join(this.runDir, `${spec.name}.${suffix}`);
    const made: string[] = [];
    const ownAddress = spec.address === undefined;
    const address = spec.address ?? this.addresses.allocate();
    const cleanup = () => {
      for (const f of made) fs.rmSync(f, { force: true });
      if (ownAddress) this.addresses.release(address);
    };
    try {
      const qmpPath = file("qmp");
      const agentPath = spec.agent === false ? undefined : file("qga");
      const consoleLog = file("console.log");
      if (qmpPath.length > 100)
        throw new Error(`guest ${spec.name}: run dir path too long for a unix socket`);
      for (const f of [qmpPath, agentPath]) if (f) fs.rmSync(f, { force: true });
      made.push(qmpPath, ...(agentPath ? [agentPath] : []));
      const disks = await this.resolveDisks(spec, file, made);
      if (spec.seed) {
        const iso = file("seed.iso");
        made.push(iso);
        await writeSeedIso(spec.seed, iso, {
          instanceId: `${spec.name}-${Date.now().toString(36)}`,
          hostname: spec.name,
        });
        const asCd = (spec.seedDevice ?? (spec.machine === "q35" ? "virtio" : "cdrom")) === "cdrom";
        const seedSpec = {
          id: "seed",
          file: iso,
          format: "raw",
          readOnly: true,
          ...(asCd ? { media: "cdrom" as const, bus: "ide" as const } : { bus: "virtio" as const }),
        };
        const placed = placeDisks({ disks: [...disks, seedSpec], machine: spec.machine });
        disks.push({ ...(placed[placed.length - 1] as ResolvedDisk), path: iso, format: "raw" });
      }
      const forwards =
        spec.nics?.length === 0 ? [] : await choosePorts(address, spec.forward ?? this.o.forward ?? [22]);
      const args = qemuArgs(
        spec,
        disks,
        { qmp: qmpPath, console: consoleLog, ...(agentPath ? { agent: agentPath } : {}) },
        { address, forwards },
      );
      const proc = spawn(this.o.qemu ?? "qemu-system-x86_64", args, { stdio: ["ignore", "ignore", "pipe"] });
      let stderr = "";
      proc.stderr?.on("data", (d) => {
        if (stderr.length < 64 * 1024) stderr += d;
      });
      const gone = new Promise<void>((resolve) => {
        proc.once("exit", () => resolve());
        proc.once("error", (e) => {
          stderr += e.message;
          resolve();
        });
      });
      let qmp: QmpClient;
      try {
        qmp = await Promise.race([
          QmpClient.connect(qmpPath, { timeout: 30_000, commandTimeout: 60_000 }),
          gone.then(() => {
            throw new Error(`guest ${spec.name}: QEMU exited at start: ${stderr.trim() || "no message"}`);
          }),
        ]);
      } catch (e) {
        proc.kill("SIGKILL");
        await gone;
        throw e;
      }
      const agent = agentPath ? new GuestAgent(agentPath) : undefined;
      const guest = new Guest(
        spec,
        { address, forwards, consoleLog },
        { proc, qmp, ...(agent ? { agent } : {}), disks, runDir: this.runDir, stderr: () => stderr, cleanup },
      );
      this.guests.set(spec.name, guest);
      guest.onExit((e) => {
        if (this.guests.get(spec.name) === guest) this.guests.delete(spec.name);
        for (const cb of this.exitCbs) cb(guest, e);
      });
      if (this.o.console) followFile(consoleLog, guest.exited, (l) => this.o.console?.(spec.name, l));
      return guest;
    } catch (e) {
      cleanup();
      throw e;
    } finally {
      this.starting.delete(spec.name);
    }
  }

  private async resolveDisks(
    spec: GuestSpec,
    file: (s: string) => string,
    made: string[],
  ): Promise<ResolvedDisk[]> {
    const out: ResolvedDisk[] = [];
    for (const d of placeDisks(spec) as (Omit<ResolvedDisk, "format" | "path"> & { format?: string })[]) {
      if (!d.file) {
        out.push({ ...d, format: "raw" });
        continue;
      }
      if (!fs.existsSync(d.file)) throw new Error(`guest ${spec.name}: disk ${d.id}: no file ${d.file}`);
      const format = d.format ?? (await diskInfo(d.file)).format;
      if (d.overlay) {
        const ov = file(`${d.id}.overlay.qcow2`);
        made.push(ov);
        await createOverlay(d.file, ov, { baseFormat: format });
        out.push({ ...d, path: ov, format: "qcow2" });
      } else out.push({ ...d, path: d.file, format });
    }
    return out;
  }

  get(name: string): Guest | undefined {
    return this.guests.get(name);
  }

  /** What runs now. */
  list(): GuestInfo[] {
    return [...this.guests.values()].map((g) => g.info());
  }

  /** Called for every guest that ends (powered itself off, stopped, crashed, killed). */
  onExit(cb: (g: Guest, e: GuestExit) => void): void {
    this.exitCbs.push(cb);
  }

  /** Kills every guest (SIGKILL), removes the run dir (when the runner made it) and releases all addresses. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.guests.values()].map((g) => g.kill()));
    if (this.ownRunDir) fs.rmSync(this.runDir, { recursive: true, force: true });
    process.removeListener("exit", this.onProcessExit);
    this.addresses.releaseAll(); // removes them from lo (LoPool)
  }

  /** On process exit (a test run ending without close, Ctrl-C): nothing may keep running. */
  private killSync(): void {
    for (const g of this.guests.values()) {
      try {
        if (g.pid) process.kill(g.pid, "SIGKILL");
      } catch {
        /* gone */
      }
    }
    if (this.ownRunDir) fs.rmSync(this.runDir, { recursive: true, force: true });
    try {
      this.addresses.releaseAll();
    } catch {
      /* left on lo: the next LoPool's sweep removes it */
    }
  }
}
