/**
 * The machines behind the double's VMs as real QEMU guests of the shared runner
 * (@kiln/testbed-guests): the VM's volume files are its disks in mapping order (root first, the
 * guest's vda), the key pair and the `#cloud-config` user data go in through the NoCloud seed,
 * and the guest has no forwarded port at all until the double exposes it: then QEMU's
 * `hostfwd_add` forwards <public IP>:<port> to the guest's 22 — only for a linked public IP and
 * a security-group rule that allows the port (see server.ts syncReach). Public IP addresses are
 * claimed from the runner's address pool (198.18.0.0/15 on lo as root, else 127.0.0.N), so no
 * other guest on the machine gets them.
 */
import { cloudConfig, type Guest, GuestRunner } from "@kiln/testbed-guests";
import { parse } from "yaml";
import type { MachineSpec, Machines } from "./machines.js";

export interface GuestMachinesOptions {
  /** Memory per guest (default: the spec's). */
  memoryMiB?: number;
  console?: (vmId: string, line: string) => void;
  log?: (line: string) => void;
}

/** The parts of a `#cloud-config` the test images apply (keys, password, runcmd). */
function userDataParts(text: string | undefined, log: (l: string) => void) {
  if (!text) return {};
  if (!text.startsWith("#cloud-config")) {
    log("user data is not #cloud-config: the test images do not run it");
    return {};
  }
  try {
    const doc = (parse(text) ?? {}) as {
      runcmd?: Array<string | string[]>;
      ssh_authorized_keys?: string[];
      password?: string;
    };
    return {
      ...(doc.runcmd ? { runcmd: doc.runcmd } : {}),
      ...(doc.ssh_authorized_keys ? { keys: doc.ssh_authorized_keys } : {}),
      ...(doc.password ? { password: doc.password } : {}),
    };
  } catch (e) {
    log(`user data is not valid YAML: ${(e as Error).message}`);
    return {};
  }
}

export class GuestMachines implements Machines {
  readonly runner: GuestRunner;
  private readonly guests = new Map<string, Guest>();
  private exitCbs: Array<(vmId: string) => void> = [];
  private readonly claimed = new Set<string>();

  constructor(private readonly o: GuestMachinesOptions = {}) {
    this.runner = new GuestRunner({ ...(o.console ? { console: o.console } : {}), forward: [] });
  }

  allocateAddress(): string {
    const a = this.runner.addresses.allocate();
    this.claimed.add(a);
    return a;
  }

  async start(spec: MachineSpec): Promise<void> {
    const log = this.o.log ?? (() => {});
    const u = userDataParts(spec.seed.userData, log);
    const g = await this.runner.start({
      name: spec.vmId,
      memoryMiB: this.o.memoryMiB ?? spec.memoryMiB,
      cpus: 1,
      disks: spec.disks.map((file, i) => ({ file, format: "raw", ...(i === 0 ? { bootIndex: 1 } : {}) })),
      seed: {
        userData: cloudConfig({
          hostname: spec.seed.hostname,
          sshAuthorizedKeys: [...spec.seed.sshAuthorizedKeys, ...(u.keys ?? [])],
          ...(u.password ? { password: u.password } : {}),
          ...(u.runcmd ? { runcmd: u.runcmd } : {}),
        }),
      },
      forward: [],
      agent: false,
    });
    this.guests.set(spec.vmId, g);
    g.onExit(() => {
      if (this.guests.get(spec.vmId) === g) this.guests.delete(spec.vmId);
      for (const cb of this.exitCbs) cb(spec.vmId);
    });
  }

  async powerdown(vmId: string): Promise<void> {
    await this.guests.get(vmId)?.powerdown();
  }

  async kill(vmId: string): Promise<void> {
    const g = this.guests.get(vmId);
    if (g) await g.stop();
  }

  async expose(vmId: string, address: string, port: number): Promise<void> {
    const g = this.guests.get(vmId);
    if (!g) return;
    const out = await g.qmp.execute("human-monitor-command", {
      "command-line": `hostfwd_add net0 tcp:${address}:${port}-:22`,
    });
    if (typeof out === "string" && out.trim())
      throw new Error(`hostfwd_add ${address}:${port}: ${out.trim()}`);
  }

  async unexpose(vmId: string, address: string, port: number): Promise<void> {
    const g = this.guests.get(vmId);
    if (!g) return;
    await g.qmp.execute("human-monitor-command", {
      "command-line": `hostfwd_remove net0 tcp:${address}:${port}`,
    });
  }

  async attach(vmId: string, file: string): Promise<void> {
    const g = this.guests.get(vmId);
    if (!g) throw new Error(`${vmId} is not running`);
    await g.attachDisk({ file, format: "raw", bus: "virtio" });
  }

  async detach(vmId: string, file: string): Promise<void> {
    const g = this.guests.get(vmId);
    const d = g?.disks().find((x) => x.file === file || x.path === file);
    if (g && d) await g.detachDisk(d.id);
  }

  onExit(cb: (vmId: string) => void): void {
    this.exitCbs.push(cb);
  }

  isRunning(vmId: string): boolean {
    return this.guests.has(vmId);
  }

  /** The guest of a VM (its console log, for tests). */
  guest(vmId: string): Guest | undefined {
    return this.guests.get(vmId);
  }

  async close(): Promise<void> {
    await this.runner.close();
    for (const a of this.claimed) this.runner.addresses.release(a);
    this.claimed.clear();
  }
}
