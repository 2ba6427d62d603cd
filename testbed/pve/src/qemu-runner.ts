/**
 * QemuRunner: the PVE double's VMs as real QEMU guests under TCG (never KVM: /dev/kvm hangs
 * guests on the test machines).
 *
 * - disks/ISOs from the VM config (virtio/scsi/sata/ide, boot order → bootindex);
 * - a QMP unix socket per VM: send-key for sendkey, system_powerdown for shutdown, quit for stop;
 * - user-mode networking for net0 with hostfwd 127.0.0.1:<port> → guest :22;
 * - the guest agent is simulated: network-get-interfaces answers once the guest's SSH server
 *   answers on the forwarded port (the test appliance runs no qemu-guest-agent), and reports
 *   eth0 as 127.0.0.1 with the forwarded port in the vendor field "x-kiln-ssh-port".
 */
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import {
  AgentNotRunningError,
  type GuestInterface,
  type SshEndpoint,
  type VmRunner,
  type VmSpec,
} from "./runner.js";

export interface QemuRunnerOptions {
  /** qemu-system-x86_64 binary (default from PATH). */
  qemu?: string;
  /** Directory for QMP sockets and serial logs (default: a temp dir, removed on close). */
  runDir?: string;
  /** Host port for a VM's SSH forward (default: a free port chosen at start). */
  sshPort?: (vmid: number) => number | undefined;
  /** Receives the guests' serial console output, line by line. */
  serial?: (vmid: number, line: string) => void;
  /** Extra QEMU arguments. */
  extraArgs?: string[];
}

interface Guest {
  proc: ChildProcess;
  qmp?: Qmp;
  sshPort: number;
  spec: VmSpec;
  exited: Promise<void>;
  serialLog: string;
}

/** The vendor field on an interface that carries the host port forwarded to the guest's :22. */
export const SSH_PORT_FIELD = "x-kiln-ssh-port";

export class QemuRunner implements VmRunner {
  private readonly guests = new Map<number, Guest>();
  private readonly exitCbs: ((vmid: number) => void)[] = [];
  private readonly runDir: string;
  private readonly ownRunDir: boolean;

  constructor(private readonly opts: QemuRunnerOptions = {}) {
    this.ownRunDir = !opts.runDir;
    // unix socket paths must stay short
    this.runDir = opts.runDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "kpve-"));
  }

  /** Path of a VM's serial console log. */
  serialLog(vmid: number): string {
    return path.join(this.runDir, `${vmid}.serial.log`);
  }

  async start(spec: VmSpec): Promise<void> {
    if (this.guests.has(spec.vmid)) throw new Error(`VM ${spec.vmid} already running`);
    const sshPort = this.opts.sshPort?.(spec.vmid) ?? (await freePort());
    const qmpPath = path.join(this.runDir, `${spec.vmid}.qmp`);
    fs.rmSync(qmpPath, { force: true });
    const serialLog = this.serialLog(spec.vmid);
    const args = qemuArgs(spec, { qmpPath, serialLog, sshPort });
    const proc = spawn(this.opts.qemu ?? "qemu-system-x86_64", [...args, ...(this.opts.extraArgs ?? [])], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    proc.stderr?.on("data", (d) => {
      stderr += d;
    });
    const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
    const guest: Guest = { proc, sshPort, spec, exited, serialLog };
    this.guests.set(spec.vmid, guest);
    if (this.opts.serial) tailFile(serialLog, exited, (l) => this.opts.serial?.(spec.vmid, l));
    void exited.then(() => {
      guest.qmp?.close();
      if (this.guests.get(spec.vmid) === guest) {
        this.guests.delete(spec.vmid);
        for (const cb of this.exitCbs) cb(spec.vmid);
      }
    });
    try {
      guest.qmp = await Promise.race([
        Qmp.connect(qmpPath, 20_000),
        exited.then(() => {
          throw new Error(`start failed: QEMU exited: ${stderr.trim()}`);
        }),
      ]);
    } catch (e) {
      proc.kill("SIGKILL");
      await exited;
      throw e;
    }
  }

  async stop(vmid: number): Promise<void> {
    const g = this.guests.get(vmid);
    if (!g) return;
    try {
      await Promise.race([g.qmp?.execute("quit"), g.exited]);
    } catch {
      /* connection closes as QEMU quits */
    }
    const t = setTimeout(() => g.proc.kill("SIGKILL"), 3000);
    await g.exited;
    clearTimeout(t);
  }

  async shutdown(vmid: number, timeoutMs: number): Promise<void> {
    const g = this.guests.get(vmid);
    if (!g) throw new Error(`VM ${vmid} not running`);
    await g.qmp?.execute("system_powerdown");
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_r, reject) => {
      timer = setTimeout(() => reject(new Error("VM quit/powerdown failed - got timeout")), timeoutMs);
    });
    try {
      await Promise.race([g.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async sendKey(vmid: number, key: string): Promise<void> {
    const g = this.guests.get(vmid);
    if (!g?.qmp) throw new Error(`VM ${vmid} not running`);
    const keys = key === "minus" ? ["minus"] : key.split("-");
    await g.qmp.execute("send-key", { keys: keys.map((data) => ({ type: "qcode", data })) });
  }

  async agentInterfaces(vmid: number): Promise<GuestInterface[]> {
    const g = this.guests.get(vmid);
    if (!g || !(await sshAnswers(g.sshPort))) throw new AgentNotRunningError();
    const mac = (g.spec.nets[0]?.macaddr ?? "52:54:00:12:34:56").toLowerCase();
    return [
      {
        name: "lo",
        "hardware-address": "00:00:00:00:00:00",
        "ip-addresses": [{ "ip-address": "127.0.0.1", "ip-address-type": "ipv4", prefix: 8 }],
      },
      {
        name: "eth0",
        "hardware-address": mac,
        "ip-addresses": [{ "ip-address": "127.0.0.1", "ip-address-type": "ipv4", prefix: 8 }],
        [SSH_PORT_FIELD]: g.sshPort,
      } as GuestInterface,
    ];
  }

  isRunning(vmid: number): boolean {
    return this.guests.has(vmid);
  }

  /** PID of a VM's QEMU process. */
  pid(vmid: number): number | undefined {
    return this.guests.get(vmid)?.proc.pid;
  }

  sshEndpoint(vmid: number): SshEndpoint | undefined {
    const g = this.guests.get(vmid);
    return g ? { host: "127.0.0.1", port: g.sshPort } : undefined;
  }

  onExit(cb: (vmid: number) => void): void {
    this.exitCbs.push(cb);
  }

  async close(): Promise<void> {
    const all = [...this.guests.values()];
    for (const g of all) g.proc.kill("SIGKILL");
    await Promise.all(all.map((g) => g.exited));
    if (this.ownRunDir) fs.rmSync(this.runDir, { recursive: true, force: true });
  }
}

/** QEMU command line for a PVE VM config (TCG only). */
export function qemuArgs(spec: VmSpec, o: { qmpPath: string; serialLog: string; sshPort: number }): string[] {
  const machine = /q35/.test(spec.machine ?? "") ? "q35" : "pc";
  const args = [
    "-name",
    `${spec.name ?? `vm${spec.vmid}`},debug-threads=on`,
    "-machine",
    machine,
    "-accel",
    "tcg",
    "-cpu",
    "max",
    "-m",
    String(spec.memoryMiB),
    "-smp",
    String(Math.max(1, spec.cores * spec.sockets)),
    "-display",
    "none",
    "-vga",
    "std",
    "-serial",
    `file:${o.serialLog}`,
    "-qmp",
    `unix:${o.qmpPath},server=on,wait=off`,
    "-no-user-config",
    "-nodefaults",
  ];
  if (spec.bios === "ovmf") args.push("-bios", "/usr/share/ovmf/OVMF.fd");
  const bootIndex = (key: string) => {
    const i = spec.bootOrder.indexOf(key);
    return i >= 0 ? `,bootindex=${i + 1}` : "";
  };
  const scsihw = spec.config.scsihw ?? "lsi";
  let scsiAdded = false;
  let ahciAdded = false;
  for (const d of spec.drives) {
    const m = /^(ide|sata|scsi|virtio)(\d+)$/.exec(d.key);
    if (!m) continue; // efidisk0/tpmstate0: not modelled
    const [, bus, nStr] = m;
    const n = Number(nStr);
    const id = `drive-${d.key}`;
    const cd = d.media === "cdrom";
    if (d.path)
      args.push(
        "-drive",
        `file=${d.path},format=${d.format},if=none,id=${id}${cd ? ",media=cdrom,readonly=on" : ""}`,
      );
    else args.push("-drive", `if=none,id=${id},media=cdrom`);
    const bi = bootIndex(d.key);
    if (bus === "virtio") args.push("-device", `virtio-blk-pci,drive=${id},id=${d.key}${bi}`);
    else if (bus === "scsi") {
      if (!scsiAdded) {
        args.push("-device", `${/^virtio-scsi/.test(scsihw) ? "virtio-scsi-pci" : "lsi53c895a"},id=scsihw0`);
        scsiAdded = true;
      }
      args.push(
        "-device",
        `${cd ? "scsi-cd" : "scsi-hd"},bus=scsihw0.0,scsi-id=${n},drive=${id},id=${d.key}${bi}`,
      );
    } else if (bus === "sata") {
      if (!ahciAdded) {
        args.push("-device", "ahci,id=ahci0");
        ahciAdded = true;
      }
      args.push("-device", `${cd ? "ide-cd" : "ide-hd"},bus=ahci0.${n},drive=${id},id=${d.key}${bi}`);
    } else {
      args.push(
        "-device",
        `${cd ? "ide-cd" : "ide-hd"},bus=ide.${Math.floor(n / 2)},unit=${n % 2},drive=${id},id=${d.key}${bi}`,
      );
    }
  }
  spec.nets.forEach((nic, i) => {
    const dev =
      { virtio: "virtio-net-pci", e1000: "e1000", e1000e: "e1000e", rtl8139: "rtl8139", vmxnet3: "vmxnet3" }[
        nic.model
      ] ?? "virtio-net-pci";
    const fwd = i === 0 ? `,hostfwd=tcp:127.0.0.1:${o.sshPort}-:22` : "";
    args.push("-netdev", `user,id=${nic.key}${fwd}`);
    args.push(
      "-device",
      `${dev},netdev=${nic.key},mac=${nic.macaddr ?? "52:54:00:12:34:56"}${bootIndex(nic.key)}`,
    );
  });
  return args;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** True if something on the port greets like an SSH server within 2 s. */
function sshAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.createConnection({ host: "127.0.0.1", port });
    let buf = "";
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(2000, () => done(false));
    sock.on("data", (d) => {
      buf += d.toString("latin1");
      if (buf.includes("SSH-")) done(true);
    });
    sock.on("error", () => done(false));
    sock.on("close", () => done(buf.includes("SSH-")));
  });
}

function tailFile(file: string, until: Promise<void>, onLine: (l: string) => void): void {
  let pos = 0;
  let partial = "";
  let stopped = false;
  const read = () => {
    try {
      const st = fs.statSync(file);
      if (st.size > pos) {
        const fd = fs.openSync(file, "r");
        const b = Buffer.alloc(st.size - pos);
        fs.readSync(fd, b, 0, b.length, pos);
        fs.closeSync(fd);
        pos = st.size;
        partial += b.toString("utf8");
        const lines = partial.split(/\r?\n/);
        partial = lines.pop() ?? "";
        for (const l of lines) onLine(l);
      }
    } catch {
      /* not there yet */
    }
    if (!stopped) setTimeout(read, 200).unref();
  };
  read();
  void until.then(() => {
    stopped = true;
    read();
  });
}

/** A minimal QMP client. */
class Qmp {
  private buf = "";
  private pending: { resolve: (v: unknown) => void; reject: (e: Error) => void }[] = [];
  private closed = false;

  private constructor(private readonly sock: net.Socket) {
    sock.setEncoding("utf8");
    sock.on("data", (d: string) => {
      this.buf += d;
      for (let i = this.buf.indexOf("\n"); i >= 0; i = this.buf.indexOf("\n")) {
        const line = this.buf.slice(0, i).trim();
        this.buf = this.buf.slice(i + 1);
        if (!line) continue;
        const msg = JSON.parse(line) as {
          return?: unknown;
          error?: { desc?: string };
          event?: string;
          QMP?: unknown;
        };
        if (msg.event || msg.QMP) continue;
        const p = this.pending.shift();
        if (!p) continue;
        if (msg.error) p.reject(new Error(msg.error.desc ?? "QMP error"));
        else p.resolve(msg.return);
      }
    });
    const fail = () => {
      this.closed = true;
      for (const p of this.pending.splice(0)) p.reject(new Error("QMP connection closed"));
    };
    sock.on("error", fail);
    sock.on("close", fail);
  }

  static async connect(file: string, timeoutMs: number): Promise<Qmp> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const sock = await new Promise<net.Socket>((resolve, reject) => {
          const s = net.createConnection(file);
          s.once("connect", () => resolve(s));
          s.once("error", reject);
        });
        const q = new Qmp(sock);
        await q.execute("qmp_capabilities");
        return q;
      } catch (e) {
        if (Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    if (this.closed) return Promise.reject(new Error("QMP connection closed"));
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.sock.write(
        `${JSON.stringify(args ? { execute: command, arguments: args } : { execute: command })}\n`,
      );
    });
  }

  close(): void {
    this.closed = true;
    this.sock.destroy();
  }
}
