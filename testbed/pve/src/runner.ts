/**
 * What runs a VM behind the API. The double keeps the PVE view (config, status, tasks);
 * a VmRunner does the machine part. FakeRunner records what was asked of it (for contract
 * tests); QemuRunner (qemu-runner.ts) boots a real QEMU guest under TCG.
 */
import { AgentCommandError, AgentNotRunningError } from "@kiln/testbed-guests";

export interface VmDrive {
  /** Config key: scsi0, virtio0, sata0, ide2, efidisk0 ... */
  key: string;
  /** Absolute path of the image or ISO on the host, if any ("none" CD-ROMs have none). */
  path?: string;
  media: "disk" | "cdrom";
  /** Image format: qcow2/raw… for disks, raw for ISOs, the volume's format for a cloud-init drive. */
  format: string;
}

export interface VmSpec {
  vmid: number;
  name?: string;
  memoryMiB: number;
  cores: number;
  sockets: number;
  bios: string;
  machine?: string;
  drives: VmDrive[];
  /** Boot order from `boot: order=...`, as config keys. */
  bootOrder: string[];
  nets: { key: string; model: string; macaddr?: string }[];
  agent: boolean;
  /** The whole PVE config, for runners that want more. */
  config: Record<string, string>;
}

export interface GuestAddress {
  "ip-address": string;
  "ip-address-type": "ipv4" | "ipv6";
  prefix: number;
}

export interface GuestInterface {
  name: string;
  "hardware-address"?: string;
  "ip-addresses"?: GuestAddress[];
  statistics?: Record<string, number>;
}

export interface SshEndpoint {
  host: string;
  port: number;
}

export interface VmRunner {
  /** Starts the guest; resolves when it runs (not when it has booted). */
  start(spec: VmSpec): Promise<void>;
  /** Hard stop (power off). */
  stop(vmid: number): Promise<void>;
  /** ACPI shutdown request; resolves when the guest is off, rejects after timeoutMs. */
  shutdown(vmid: number, timeoutMs: number): Promise<void>;
  /** One key combination in PVE/qemu notation, e.g. "ret", "shift-a", "ctrl-alt-delete". */
  sendKey(vmid: number, key: string): Promise<void>;
  /**
   * A qemu-guest-agent command in PVE's naming (`ping`, `network-get-interfaces`, `get-osinfo`,
   * `fsfreeze-status` …); resolves with the agent's `return`. Throws AgentNotRunningError while no
   * agent answers, AgentCommandError for the agent's own errors.
   */
  agent(vmid: number, command: string, args?: Record<string, unknown>): Promise<unknown>;
  isRunning(vmid: number): boolean;
  /** Where the host reaches the guest's port 22, if the runner forwards it. */
  sshEndpoint?(vmid: number): SshEndpoint | undefined;
  /** Register a callback for guests that stop by themselves (poweroff inside, crash). */
  onExit?(cb: (vmid: number) => void): void;
  /** Stops everything. */
  close(): Promise<void>;
}

export { AgentCommandError, AgentNotRunningError };

export interface FakeVm {
  spec: VmSpec;
  running: boolean;
  keys: string[];
  starts: number;
  agentUp: boolean;
  frozen?: boolean;
}

export interface FakeRunnerOptions {
  /** ms between start and the agent answering (default 0). */
  agentDelayMs?: number;
  /** ms a shutdown takes (default 10). */
  shutdownMs?: number;
  /** Address the fake agent reports for eth0 (default 10.0.2.15). */
  guestIp?: string;
}

export class FakeRunner implements VmRunner {
  readonly vms = new Map<number, FakeVm>();
  private exitCbs: ((vmid: number) => void)[] = [];
  private agentTimers = new Set<NodeJS.Timeout>();
  constructor(private readonly opts: FakeRunnerOptions = {}) {}

  async start(spec: VmSpec): Promise<void> {
    const vm: FakeVm = this.vms.get(spec.vmid) ?? {
      spec,
      running: false,
      keys: [],
      starts: 0,
      agentUp: false,
    };
    vm.spec = spec;
    vm.running = true;
    vm.starts++;
    vm.agentUp = false;
    this.vms.set(spec.vmid, vm);
    const up = () => {
      if (vm.running) vm.agentUp = spec.agent;
    };
    if (this.opts.agentDelayMs) {
      const t = setTimeout(() => {
        this.agentTimers.delete(t);
        up();
      }, this.opts.agentDelayMs);
      this.agentTimers.add(t);
    } else up();
  }

  async stop(vmid: number): Promise<void> {
    const vm = this.vms.get(vmid);
    if (vm) {
      vm.running = false;
      vm.agentUp = false;
    }
  }

  async shutdown(vmid: number, _timeoutMs: number): Promise<void> {
    await new Promise((r) => setTimeout(r, this.opts.shutdownMs ?? 10));
    await this.stop(vmid);
  }

  async sendKey(vmid: number, key: string): Promise<void> {
    this.vms.get(vmid)?.keys.push(key);
  }

  /** The simulated agent: ping, network-get-interfaces, get-osinfo, get-host-name, fsfreeze-*, shutdown. */
  async agent(vmid: number, command: string): Promise<unknown> {
    const vm = this.vms.get(vmid);
    if (!vm?.running || !vm.agentUp) throw new AgentNotRunningError();
    const mac = vm.spec.nets[0]?.macaddr ?? "BC:24:11:00:00:01";
    switch (command) {
      case "ping":
        return {};
      case "network-get-interfaces":
        return [
          {
            name: "lo",
            "hardware-address": "00:00:00:00:00:00",
            "ip-addresses": [{ "ip-address": "127.0.0.1", "ip-address-type": "ipv4", prefix: 8 }],
          },
          {
            name: "eth0",
            "hardware-address": mac.toLowerCase(),
            "ip-addresses": [
              { "ip-address": this.opts.guestIp ?? "10.0.2.15", "ip-address-type": "ipv4", prefix: 24 },
            ],
          },
        ] satisfies GuestInterface[];
      case "get-osinfo":
        return { id: "debian", name: "Debian GNU/Linux", "version-id": "12", "kernel-release": "6.1.0" };
      case "get-host-name":
        return { "host-name": vm.spec.name ?? `vm${vmid}` };
      case "fsfreeze-status":
        return vm.frozen ? "frozen" : "thawed";
      case "fsfreeze-freeze":
        vm.frozen = true;
        return 1;
      case "fsfreeze-thaw":
        vm.frozen = false;
        return 1;
      case "shutdown":
        setTimeout(() => this.crash(vmid), this.opts.shutdownMs ?? 10);
        return undefined;
      default:
        throw new AgentCommandError(
          `guest-${command}`,
          "CommandNotFound",
          `The command guest-${command} has not been found`,
        );
    }
  }

  isRunning(vmid: number): boolean {
    return this.vms.get(vmid)?.running ?? false;
  }

  /** Test helper: the guest powers itself off (or is lost). */
  crash(vmid: number): void {
    const vm = this.vms.get(vmid);
    if (!vm) return;
    vm.running = false;
    vm.agentUp = false;
    for (const cb of this.exitCbs) cb(vmid);
  }

  onExit(cb: (vmid: number) => void): void {
    this.exitCbs.push(cb);
  }

  async close(): Promise<void> {
    for (const t of this.agentTimers) clearTimeout(t);
    for (const vm of this.vms.values()) vm.running = false;
  }
}
