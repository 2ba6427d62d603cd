/**
 * QemuRunner: the PVE double's VMs as real QEMU guests, through @kiln/testbed-guests'
 * GuestRunner (TCG only).
 *
 * - disks/ISOs from the VM config keep their PVE keys as device ids (scsi0, ide2 …) and buses;
 *   `boot: order=` becomes bootindex; `scsihw` picks the SCSI controller; q35 and OVMF as set;
 * - each VM has its own address (kept across its restarts) from the guest runner's pool —
 *   198.18.0.0/15 on the host's lo as root, which clients take for a VM's (Packer skips
 *   loopback addresses), else 127.0.0.N — with the guest's port 22 forwarded from port 22 there
 *   when free (e.g. as root), so a client connects to the address the agent reports with the
 *   default port;
 * - `agent: 1` adds the virtio-serial agent channel; agent calls go to the guest's real
 *   qemu-guest-agent (Debian image). network-get-interfaces shows the NIC QEMU's user network
 *   backs with the VM's address instead of 10.0.2.15 (hostView): the address the host reaches
 *   it at, as PVE reports the guest's address on the bridge.
 * - the test appliance has no qemu-guest-agent: for it, and only once its console has said
 *   `KILN-READY … ip A` (dropbear up, eth0 addressed), `ping` and `network-get-interfaces` are
 *   answered from that line (eth0 with the VM's address); everything else is "not running".
 */

import type { DiskBus, DiskSpec, Forward } from "@kiln/testbed-guests";
import {
  type AddressPool,
  type AgentInterface,
  AgentNotRunningError,
  defaultAddressPool,
  type Guest,
  GuestRunner,
  type GuestRunnerOptions,
  type GuestSpec,
  hostView,
} from "@kiln/testbed-guests";
import type { SshEndpoint, VmRunner, VmSpec } from "./runner.js";

export interface QemuRunnerOptions {
  /** qemu-system-x86_64 binary (default from PATH). */
  qemu?: string;
  /** Directory for QMP sockets, serial logs, seeds (default: a temp dir, removed on close). */
  runDir?: string;
  /** Receives the guests' serial console output, line by line. */
  serial?: (vmid: number, line: string) => void;
  /** Guest ports forwarded on each VM's address (default [22]). */
  forward?: number[];
  /**
   * A fixed host port for a VM's port 22 (on its address), for clients that cannot use port 22
   * itself (not root: ports below 1024 cannot be bound). Default: 22 when free there.
   */
  sshPort?: (vmid: number) => number | undefined;
  /** Where the VMs' addresses come from (default: defaultAddressPool()). */
  addresses?: AddressPool;
  /** Extra QEMU arguments. */
  extraArgs?: string[];
}

/** The appliance's line once it is reachable: `KILN-READY: ssh on port 22, hostname H, ip A`. */
const APPLIANCE_READY = /KILN-READY: ssh on port 22, hostname (\S+), ip ([0-9.]+)/;

const SCSI_HW: Record<string, GuestSpec["scsiController"]> = {
  lsi: "lsi53c895a",
  lsi53c810: "lsi53c895a",
  megasas: "megasas",
  "virtio-scsi-pci": "virtio-scsi-pci",
  "virtio-scsi-single": "virtio-scsi-pci",
};

/** A PVE VmSpec as the runner's GuestSpec (pure). */
export function guestSpecOf(
  spec: VmSpec,
  o: { address: string; forward?: (number | Forward)[]; extraArgs?: string[] },
): GuestSpec {
  const bootIndex = (key: string) => {
    const i = spec.bootOrder.indexOf(key);
    return i >= 0 ? { bootIndex: i + 1 } : {};
  };
  const disks: DiskSpec[] = [];
  for (const d of spec.drives) {
    const m = /^(ide|sata|scsi|virtio)(\d+)$/.exec(d.key);
    if (!m) continue; // efidisk0/tpmstate0: not modelled
    disks.push({
      id: d.key,
      bus: m[1] as DiskBus,
      unit: Number(m[2]),
      media: d.media,
      ...(d.path ? { file: d.path, format: d.format } : {}),
      ...bootIndex(d.key),
    });
  }
  return {
    name: `vm${spec.vmid}`,
    memoryMiB: spec.memoryMiB,
    cpus: Math.max(1, spec.cores * spec.sockets),
    machine: /q35/.test(spec.machine ?? "") ? "q35" : "pc",
    firmware: spec.bios === "ovmf" ? "uefi" : "bios",
    disks,
    scsiController: SCSI_HW[spec.config.scsihw ?? "lsi"] ?? "lsi53c895a",
    nics: spec.nets.map((n) => ({
      model: n.model,
      ...(n.macaddr ? { mac: n.macaddr } : {}),
      ...bootIndex(n.key),
    })),
    forward: o.forward ?? [22],
    address: o.address,
    agent: spec.agent,
    ...(o.extraArgs ? { extraArgs: o.extraArgs } : {}),
  };
}

export class QemuRunner implements VmRunner {
  private readonly runner: GuestRunner;
  private readonly guests = new Map<number, { guest: Guest; spec: VmSpec }>();
  private readonly addresses = new Map<number, string>();
  private readonly pool: AddressPool;
  private readonly exitCbs: ((vmid: number) => void)[] = [];

  constructor(private readonly opts: QemuRunnerOptions = {}) {
    this.pool = opts.addresses ?? defaultAddressPool();
    const ro: GuestRunnerOptions = { addresses: this.pool };
    if (opts.qemu) ro.qemu = opts.qemu;
    if (opts.runDir) ro.runDir = opts.runDir;
    if (opts.serial) ro.console = (name, line) => opts.serial?.(Number(name.slice(2)), line);
    this.runner = new GuestRunner(ro);
  }

  /** The VM's address: one per VMID, kept across its restarts. */
  address(vmid: number): string {
    let a = this.addresses.get(vmid);
    if (!a) {
      a = this.pool.allocate();
      this.addresses.set(vmid, a);
    }
    return a;
  }

  /** Path of a VM's serial console log (while the runner is open). */
  serialLog(vmid: number): string | undefined {
    return this.guests.get(vmid)?.guest.consoleLog;
  }

  /** The running guest, for tests. */
  guest(vmid: number): Guest | undefined {
    return this.guests.get(vmid)?.guest;
  }

  async start(spec: VmSpec): Promise<void> {
    if (this.guests.has(spec.vmid)) throw new Error(`VM ${spec.vmid} already running`);
    const ssh = this.opts.sshPort?.(spec.vmid);
    const forward = [...(ssh ? [{ guest: 22, host: ssh }] : []), ...(this.opts.forward ?? [22])];
    const guest = await this.runner.start(
      guestSpecOf(spec, {
        address: this.address(spec.vmid),
        forward,
        ...(this.opts.extraArgs ? { extraArgs: this.opts.extraArgs } : {}),
      }),
    );
    const entry = { guest, spec };
    this.guests.set(spec.vmid, entry);
    guest.onExit(() => {
      if (this.guests.get(spec.vmid) !== entry) return;
      this.guests.delete(spec.vmid);
      for (const cb of this.exitCbs) cb(spec.vmid);
    });
  }

  async stop(vmid: number): Promise<void> {
    await this.guests.get(vmid)?.guest.stop();
  }

  async shutdown(vmid: number, timeoutMs: number): Promise<void> {
    const g = this.guests.get(vmid)?.guest;
    if (!g) throw new Error(`VM ${vmid} not running`);
    await g.shutdown(timeoutMs).catch(() => {
      throw new Error("VM quit/powerdown failed - got timeout");
    });
  }

  async sendKey(vmid: number, key: string): Promise<void> {
    const g = this.guests.get(vmid)?.guest;
    if (!g) throw new Error(`VM ${vmid} not running`);
    await g.sendKey(key === "minus" ? ["minus"] : key.split("-"));
  }

  async agent(vmid: number, command: string, args?: Record<string, unknown>): Promise<unknown> {
    const e = this.guests.get(vmid);
    if (!e) throw new AgentNotRunningError();
    const { guest, spec } = e;
    const mac = (spec.nets[0]?.macaddr ?? "").toLowerCase();
    try {
      const r = await guest.agent(command, args, command === "fsfreeze-freeze" ? 60_000 : 10_000);
      return command === "network-get-interfaces" && mac
        ? hostView(r as AgentInterface[], { mac, address: guest.address })
        : r;
    } catch (err) {
      if (!(err instanceof AgentNotRunningError)) throw err;
      const ready = APPLIANCE_READY.exec(guest.console());
      if (!ready || !spec.agent) throw err;
      // the appliance (no qemu-guest-agent): what its console said, seen from the host
      if (command === "ping") return {};
      if (command !== "network-get-interfaces") throw err;
      const ifaces: AgentInterface[] = [
        {
          name: "lo",
          "hardware-address": "00:00:00:00:00:00",
          "ip-addresses": [{ "ip-address": "127.0.0.1", "ip-address-type": "ipv4", prefix: 8 }],
        },
        {
          name: "eth0",
          "hardware-address": mac || "52:54:00:12:34:56",
          "ip-addresses": [{ "ip-address": ready[2] as string, "ip-address-type": "ipv4", prefix: 24 }],
        },
      ];
      return hostView(ifaces, { mac: mac || "52:54:00:12:34:56", address: guest.address });
    }
  }

  isRunning(vmid: number): boolean {
    return this.guests.has(vmid);
  }

  /** PID of a VM's QEMU process. */
  pid(vmid: number): number | undefined {
    return this.guests.get(vmid)?.guest.pid;
  }

  sshEndpoint(vmid: number): SshEndpoint | undefined {
    const g = this.guests.get(vmid)?.guest;
    return g ? g.endpoint(22) : undefined;
  }

  onExit(cb: (vmid: number) => void): void {
    this.exitCbs.push(cb);
  }

  async close(): Promise<void> {
    await this.runner.close();
    for (const a of this.addresses.values()) this.pool.release(a);
    this.addresses.clear();
  }
}
