/**
 * What runs a VM behind the API — the thin machine interface. The double keeps the OAPI view
 * (states, volumes, addresses, rules); a `Machines` implementation does the machine part:
 * boot from disk files with a seed, power off, expose the guest's SSH port on an address.
 * `InMemoryMachines` (here) records what was asked of it for the API tests; the shared guest
 * runner (testbed/guests) backs it with real QEMU guests.
 */

export interface MachineSpec {
  vmId: string;
  /** Disk files in device order: the first is the root volume (`/dev/sda1` → the guest's vda). */
  disks: string[];
  memoryMiB: number;
  /** What the guest's NoCloud seed carries: the key pair's public key and decoded user data. */
  seed: { hostname: string; sshAuthorizedKeys: string[]; userData?: string };
}

export interface Machines {
  /** Boots the machine; resolves once it runs (not when it has booted). */
  start(spec: MachineSpec): Promise<void>;
  /** An ACPI power-button press; the machine reports its exit through onExit. */
  powerdown(vmId: string): Promise<void>;
  /** Power cut. */
  kill(vmId: string): Promise<void>;
  /** Make the guest's port 22 reachable at address:port (a public IP with a rule allowing port). */
  expose(vmId: string, address: string, port: number): Promise<void>;
  unexpose(vmId: string, address: string, port: number): Promise<void>;
  /** Hot-plugs a disk file into a running machine (LinkVolume); the guest sees the next /dev/vdX. */
  attach?(vmId: string, file: string): Promise<void>;
  /** Unplugs it (UnlinkVolume of a running machine); the guest must release it. */
  detach?(vmId: string, file: string): Promise<void>;
  /** Called when a machine stops by itself or after powerdown/kill. */
  onExit(cb: (vmId: string) => void): void;
  isRunning(vmId: string): boolean;
  /**
   * A public IP address no one else on the machine uses (default: the double counts 203.0.113.10…,
   * documentation addresses nothing binds).
   */
  allocateAddress?(): string;
  close(): Promise<void>;
}

export interface InMemoryMachinesOptions {
  /** ms an ACPI shutdown takes (default 20). */
  shutdownMs?: number;
}

export class InMemoryMachines implements Machines {
  readonly started: MachineSpec[] = [];
  readonly running = new Map<string, MachineSpec>();
  /** vmId → "address:port" exposures in force. */
  readonly exposed = new Map<string, Set<string>>();
  private exitCbs: Array<(vmId: string) => void> = [];
  private timers = new Set<NodeJS.Timeout>();
  constructor(private readonly o: InMemoryMachinesOptions = {}) {}

  async start(spec: MachineSpec): Promise<void> {
    this.started.push(spec);
    this.running.set(spec.vmId, spec);
  }
  async powerdown(vmId: string): Promise<void> {
    if (!this.running.has(vmId)) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      this.exit(vmId);
    }, this.o.shutdownMs ?? 20);
    this.timers.add(t);
  }
  async kill(vmId: string): Promise<void> {
    if (this.running.has(vmId)) this.exit(vmId);
  }
  /** vmId → disk files hot-plugged and not unplugged. */
  readonly attached = new Map<string, string[]>();
  async attach(vmId: string, file: string): Promise<void> {
    const spec = this.running.get(vmId);
    if (!spec) throw new Error(`${vmId} is not running`);
    this.attached.set(vmId, [...(this.attached.get(vmId) ?? []), file]);
  }
  async detach(vmId: string, file: string): Promise<void> {
    this.attached.set(
      vmId,
      (this.attached.get(vmId) ?? []).filter((f) => f !== file),
    );
  }
  async expose(vmId: string, address: string, port: number): Promise<void> {
    const s = this.exposed.get(vmId) ?? new Set<string>();
    s.add(`${address}:${port}`);
    this.exposed.set(vmId, s);
  }
  async unexpose(vmId: string, address: string, port: number): Promise<void> {
    this.exposed.get(vmId)?.delete(`${address}:${port}`);
  }
  onExit(cb: (vmId: string) => void): void {
    this.exitCbs.push(cb);
  }
  isRunning(vmId: string): boolean {
    return this.running.has(vmId);
  }
  /** Test helper: the guest dies (crash, lost host). */
  crash(vmId: string): void {
    this.exit(vmId);
  }
  private exit(vmId: string): void {
    this.running.delete(vmId);
    this.exposed.delete(vmId);
    for (const cb of this.exitCbs) cb(vmId);
  }
  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const id of [...this.running.keys()]) this.running.delete(id);
  }
}
