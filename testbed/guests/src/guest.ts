/**
 * One running guest: a QEMU process with its QMP socket, console log, own host address and
 * forwarded ports, optional guest-agent channel. Made by GuestRunner.start.
 */
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import type { QmpClient, QmpEvent } from "@kiln/sdk";
import { AgentNotRunningError, type GuestAgent } from "./agent.js";
import { fileSize, readFrom } from "./console.js";
import { createOverlay, diskInfo } from "./disks.js";
import type { Forward } from "./ports.js";
import { greets } from "./probe.js";
import { HOTPLUG_ROOT_PORTS, placeDisks, type ResolvedDisk } from "./qemu-args.js";
import type { DiskSpec, GuestSpec } from "./spec.js";

/**
 * Why a guest ended: `poweroff` (the guest turned itself off: poweroff, ACPI shutdown),
 * `stopped` (stop(): QMP quit), `killed` (the runner's close, SIGKILL), `crashed` (anything else).
 */
export type ExitReason = "poweroff" | "stopped" | "killed" | "crashed";

export interface GuestExit {
  reason: ExitReason;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** QEMU's stderr (errors, warnings). */
  stderr: string;
}

export interface GuestInfo {
  name: string;
  pid: number | undefined;
  address: string;
  /** Guest port → host port on `address`. */
  ports: Record<number, number>;
  consoleLog: string;
  disks: { id: string; file?: string; format: string; media: "disk" | "cdrom"; bus: string }[];
  agent: boolean;
  startedAt: Date;
}

export interface GuestInternals {
  proc: ChildProcess;
  qmp: QmpClient;
  agent?: GuestAgent;
  disks: ResolvedDisk[];
  runDir: string;
  stderr: () => string;
  /** Removes the guest's own files (sockets, seed, throwaway overlays), releases its address. */
  cleanup: () => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Guest {
  readonly name: string;
  readonly address: string;
  readonly forwards: readonly Forward[];
  readonly consoleLog: string;
  readonly startedAt = new Date();
  /** Settles when QEMU has exited (never rejects). */
  readonly exited: Promise<GuestExit>;
  private exit: GuestExit | undefined;
  private readonly exitCbs: ((e: GuestExit) => void)[] = [];
  private stopping: "stopped" | "killed" | undefined;
  private lastShutdown: QmpEvent | undefined;
  private hotplugged = new Set<string>();

  constructor(
    readonly spec: GuestSpec,
    o: { address: string; forwards: Forward[]; consoleLog: string },
    private readonly i: GuestInternals,
  ) {
    this.name = spec.name;
    this.address = o.address;
    this.forwards = o.forwards;
    this.consoleLog = o.consoleLog;
    i.qmp.on("event", (e: QmpEvent) => {
      if (e.event === "SHUTDOWN") this.lastShutdown = e;
    });
    this.exited = new Promise<GuestExit>((resolve) => {
      i.proc.once("exit", (code, signal) => {
        const guestOff = this.lastShutdown?.data?.guest === true;
        const reason: ExitReason = this.stopping ?? (guestOff ? "poweroff" : "crashed");
        this.exit = { reason, code, signal, stderr: i.stderr() };
        i.qmp.destroy();
        i.agent?.close();
        i.cleanup();
        for (const cb of this.exitCbs) cb(this.exit);
        resolve(this.exit);
      });
    });
  }

  get pid(): number | undefined {
    return this.i.proc.pid;
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  /** How it ended, once it has. */
  get exitInfo(): GuestExit | undefined {
    return this.exit;
  }

  /** The QMP connection, for what this class does not wrap. */
  get qmp(): QmpClient {
    return this.i.qmp;
  }

  /** The host port on `address` forwarded to guest TCP port `guestPort` (default 22). */
  port(guestPort = 22): number {
    const f = this.forwards.find((x) => x.guest === guestPort);
    if (!f)
      throw new Error(
        `guest ${this.name}: port ${guestPort} is not forwarded (forward: [${this.forwards.map((x) => x.guest).join(", ")}])`,
      );
    return f.host;
  }

  /** Where a client reaches guest port `guestPort`: `{ host: address, port }`. */
  endpoint(guestPort = 22): { host: string; port: number } {
    return { host: this.address, port: this.port(guestPort) };
  }

  /** Called once when QEMU exits, with why (immediately if it already has). */
  onExit(cb: (e: GuestExit) => void): void {
    if (this.exit) cb(this.exit);
    else this.exitCbs.push(cb);
  }

  info(): GuestInfo {
    return {
      name: this.name,
      pid: this.pid,
      address: this.address,
      ports: Object.fromEntries(this.forwards.map((f) => [f.guest, f.host])),
      consoleLog: this.consoleLog,
      disks: this.i.disks.map((d) => ({
        id: d.id,
        ...(d.path ? { file: d.path } : {}),
        format: d.format,
        media: d.media,
        bus: d.bus,
      })),
      agent: this.i.agent !== undefined,
      startedAt: this.startedAt,
    };
  }

  /** The console output so far (from byte `from`). */
  console(from = 0): string {
    return readFrom(this.consoleLog, from);
  }

  /** Bytes of console output so far: pass to waitForConsole's `from` to wait for what comes next. */
  consoleSize(): number {
    return fileSize(this.consoleLog);
  }

  /** Resolves with the first match of `re` on the console (from byte `from`); rejects on timeout or exit. */
  async waitForConsole(re: RegExp, timeoutMs: number, from = 0): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this.console(from).match(re);
      if (m) return m;
      if (!this.running)
        throw new Error(`guest ${this.name} exited (${this.exit?.reason}) before ${re} on its console`);
      if (Date.now() > deadline)
        throw new Error(`guest ${this.name}: no ${re} on its console within ${timeoutMs} ms`);
      await sleep(200);
    }
  }

  /**
   * Resolves when the forwarded `guestPort` greets (default SSH: `SSH-`); rejects on timeout or
   * exit. For servers that speak second pass `greeting: null` to wait for an accepted connection.
   */
  async waitForPort(guestPort = 22, timeoutMs = 120_000, greeting: RegExp = /^SSH-/m): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const { host, port } = this.endpoint(guestPort);
    for (;;) {
      if (await greets(host, port, greeting, 2000)) return;
      if (!this.running)
        throw new Error(`guest ${this.name} exited (${this.exit?.reason}) before port ${guestPort} answered`);
      if (Date.now() > deadline)
        throw new Error(
          `guest ${this.name}: port ${guestPort} (${host}:${port}) did not answer within ${timeoutMs} ms`,
        );
      await sleep(500);
    }
  }

  /** Whether the guest has the agent channel (not whether an agent runs in it). */
  get hasAgentChannel(): boolean {
    return this.i.agent !== undefined;
  }

  /**
   * Runs a qemu-guest-agent command (`ping`, `network-get-interfaces`, `guest-get-osinfo`, …;
   * `guest-` prefix optional). Throws AgentNotRunningError while no agent answers (booting, an
   * image without one, no channel), AgentCommandError for the agent's own errors.
   */
  agent<T = unknown>(command: string, args?: Record<string, unknown>, timeoutMs?: number): Promise<T> {
    if (!this.i.agent || !this.running) return Promise.reject(new AgentNotRunningError());
    return this.i.agent.execute<T>(command, args, timeoutMs);
  }

  /** Waits until the agent answers guest-ping. */
  async waitForAgent(timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        await this.agent("ping", undefined, 5000);
        return;
      } catch (e) {
        if (!(e instanceof AgentNotRunningError)) throw e;
        if (!this.running)
          throw new Error(`guest ${this.name} exited (${this.exit?.reason}) before its agent answered`);
        if (Date.now() > deadline)
          throw new Error(`guest ${this.name}: the guest agent did not answer within ${timeoutMs} ms`);
        await sleep(1000);
      }
    }
  }

  /** Presses keys together (QEMU qcodes: ["ctrl", "alt", "delete"], ["ret"], ["shift", "a"]). */
  async sendKey(qcodes: string[]): Promise<void> {
    await this.i.qmp.sendKeys(qcodes);
  }

  /** Presses the ACPI power button (the guest decides). */
  async powerdown(): Promise<void> {
    await this.i.qmp.systemPowerdown();
  }

  /** ACPI shutdown: presses the power button and waits for QEMU to exit; rejects after `timeoutMs` (the guest keeps running). */
  async shutdown(timeoutMs = 60_000): Promise<GuestExit> {
    if (!this.running) return this.exit as GuestExit;
    await this.powerdown();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_r, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(`guest ${this.name} did not power off within ${timeoutMs} ms of the ACPI power button`),
          ),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Hard power off (QMP quit; SIGKILL after 5 s). */
  async stop(): Promise<GuestExit> {
    if (!this.running) return this.exit as GuestExit;
    this.stopping ??= "stopped";
    try {
      await Promise.race([this.i.qmp.quit(), this.exited]);
    } catch {
      /* QEMU closes the socket as it quits */
    }
    const t = setTimeout(() => this.i.proc.kill("SIGKILL"), 5000);
    const e = await this.exited;
    clearTimeout(t);
    return e;
  }

  /** SIGKILL, for the runner's close. */
  kill(): Promise<GuestExit> {
    if (this.running) {
      this.stopping ??= "killed";
      this.i.proc.kill("SIGKILL");
    }
    return this.exited;
  }

  /** Hard reset (the reset button). */
  async reset(): Promise<void> {
    await this.i.qmp.execute("system_reset");
  }

  /** The guest's disks as attached now. */
  disks(): readonly ResolvedDisk[] {
    return this.i.disks;
  }

  /**
   * Hot-plugs a disk (bus virtio: a PCI device; scsi: on the SCSI controller, added if missing).
   * Resolves when QEMU has it; the guest sees it moments later (Linux: a new /dev/vdX or sdX).
   */
  async attachDisk(d: DiskSpec): Promise<ResolvedDisk> {
    if (!this.running) throw new Error(`guest ${this.name} is not running`);
    const bus = d.bus ?? "virtio";
    if (bus !== "virtio" && bus !== "scsi")
      throw new Error(`disk hot-plug: bus ${bus} cannot hot-plug (use virtio or scsi)`);
    if (!d.file) throw new Error("disk hot-plug: file is required");
    const others = this.i.disks.map((x) => ({ ...x, file: x.file ?? x.path }));
    const placed = placeDisks({
      disks: [...others, { ...d, bus, id: d.id ?? `hot${this.hotplugged.size}` }],
      machine: this.spec.machine,
    });
    const p = placed[placed.length - 1] as Omit<ResolvedDisk, "format" | "path">;
    let file = d.file;
    let format = d.format ?? (await diskInfo(d.file)).format;
    if (d.overlay) {
      file = path.join(this.i.runDir, `${this.name}.${p.id}.overlay.qcow2`);
      await createOverlay(d.file, file, { baseFormat: format });
      format = "qcow2";
    }
    const disk: ResolvedDisk = { ...p, path: file, format };
    const node = `drive-${disk.id}`;
    await this.i.qmp.execute("blockdev-add", {
      driver: format,
      "node-name": node,
      "read-only": !!d.readOnly,
      file: { driver: "file", filename: file, "read-only": !!d.readOnly },
    });
    try {
      if (bus === "scsi" && !this.i.disks.some((x) => x.bus === "scsi") && !this.hasScsiController) {
        await this.i.qmp.execute("device_add", {
          driver: this.spec.scsiController ?? "virtio-scsi-pci",
          id: "scsihw0",
          ...this.hotplugBus(),
        });
        this.hasScsiController = true;
      }
      await this.i.qmp.execute("device_add", {
        ...(bus === "virtio"
          ? { driver: "virtio-blk-pci", ...this.hotplugBus() }
          : { driver: "scsi-hd", bus: "scsihw0.0", "scsi-id": disk.unit }),
        drive: node,
        id: disk.id,
        ...(d.serial ? { serial: d.serial } : {}),
      });
    } catch (e) {
      await this.i.qmp.execute("blockdev-del", { "node-name": node }).catch(() => undefined);
      if (d.overlay) fs.rmSync(file, { force: true });
      throw e;
    }
    this.hotplugged.add(disk.id);
    this.i.disks.push(disk);
    return disk;
  }

  private hasScsiController = false;
  private rootPortsUsed = new Set<number>();

  /** On q35, hot-plugged PCI devices go on the free pcie-root-ports made at start. */
  private hotplugBus(): Record<string, string> {
    if (this.spec.machine !== "q35") return {};
    for (let n = 0; n < HOTPLUG_ROOT_PORTS; n++)
      if (!this.rootPortsUsed.has(n)) {
        this.rootPortsUsed.add(n);
        return { bus: `hp${n}` };
      }
    throw new Error(`guest ${this.name}: all ${HOTPLUG_ROOT_PORTS} hot-plug slots are in use`);
  }

  /**
   * Unplugs a disk: asks the guest to release the device and waits for QEMU's DEVICE_DELETED
   * (the guest must cooperate: Linux does, a busy or frozen guest may not), then closes the file.
   */
  async detachDisk(id: string, timeoutMs = 30_000): Promise<void> {
    const idx = this.i.disks.findIndex((d) => d.id === id);
    if (idx < 0) throw new Error(`guest ${this.name}: no disk ${id}`);
    const d = this.i.disks[idx] as ResolvedDisk;
    const deleted = this.i.qmp.waitForEvent("DEVICE_DELETED", {
      timeout: timeoutMs,
      filter: (e) => e.data?.device === id,
    });
    deleted.catch(() => undefined);
    await this.i.qmp.execute("device_del", { id });
    try {
      await deleted;
    } catch {
      throw new Error(`guest ${this.name} did not release disk ${id} within ${timeoutMs} ms`);
    }
    if (this.hotplugged.delete(id)) await this.i.qmp.execute("blockdev-del", { "node-name": `drive-${id}` });
    this.i.disks.splice(idx, 1);
    if (d.overlay && d.path && d.path !== d.file) fs.rmSync(d.path, { force: true });
  }
}
