/**
 * The double's account: servers (each backed by a Machine), the command queue, the catalog with
 * the hard-disk library, and what tests look at — the request log, contract violations of the
 * double's own answers, the clones made, and `leftovers()`: what would still cost money.
 */
import path from "node:path";
import type { Catalog, CatalogImage } from "./catalog.js";
import type { Machine, MachineHost, SeedSpec } from "./machine.js";
import type { CommandState, Queue } from "./queue.js";
import { ApiError } from "./wire.js";

export interface DiskState {
  uuid: string;
  sizeGB: number;
  /** Snapshot children (the hdlib list flattens them in, before the disk). */
  children: Array<{ uuid: string; sizeGB: number }>;
}

export interface ServerState {
  id: string;
  name: string;
  datacenter: string;
  cpu: string;
  ramMB: number;
  billing: string;
  power: "on" | "off";
  /** creating: the create command runs; ready; gone: terminated or lost. */
  phase: "creating" | "ready" | "gone";
  disks: DiskState[];
  image: CatalogImage;
  /** First-boot data; its password is the server's root password (a secret). */
  seed: SeedSpec;
  machine?: Machine;
  noExternalIp: boolean;
  powerOnAfterCreate: boolean;
}

export interface RequestRecord {
  at: number;
  method: string;
  path: string;
  /** The contract endpoint, when the request matched one. */
  endpoint?: string;
  /** The flags as checked, passwords replaced by "***". */
  flags?: Record<string, unknown>;
  status: number;
}

export interface CloneRecord {
  server: string;
  /** The uuid the client asked to clone. */
  uuid: string;
  disk: number;
  name: string;
  file: string;
}

export class Account {
  readonly servers = new Map<string, ServerState>();
  readonly requests: RequestRecord[] = [];
  /** Answers of the double that do not match the contract (a bug of the double). */
  readonly contractViolations: string[] = [];
  readonly clones: CloneRecord[] = [];

  constructor(
    readonly catalog: Catalog,
    readonly queue: Queue,
    readonly host: MachineHost,
    readonly libraryDir: string,
  ) {}

  /** Servers whose name matches ^name$ as a regular expression (the proxy does not escape it). */
  byName(name: string, method: string): ServerState[] {
    let re: RegExp;
    try {
      re = new RegExp(`^${name}$`);
    } catch {
      throw new ApiError(500, `Failed to run command method (${method})`);
    }
    return [...this.servers.values()].filter((s) => s.phase !== "gone" && re.test(s.name));
  }

  /** The servers a call with `name` or `id` selects; none is the proxy's "No servers found". */
  select(flags: Record<string, unknown>, method: string, allowNone = false): ServerState[] {
    const name = flags.name as string | undefined;
    const id = flags.id as string | undefined;
    const hits = id
      ? [...this.servers.values()].filter((s) => s.id === id && s.phase !== "gone")
      : this.byName(name ?? "", method);
    if (!hits.length && !allowNone) throw new ApiError(500, `No servers found (name='${name ?? ""}')`);
    return hits;
  }

  /** End the server: its machine destroyed, its unfinished commands ended, out of the account. */
  async remove(s: ServerState, why: string, except?: CommandState): Promise<void> {
    s.phase = "gone";
    for (const c of this.queue.unfinished())
      if (c.server === s.name && c !== except) this.queue.abort(c, why);
    this.servers.delete(s.id);
    await s.machine?.destroy();
    s.machine = undefined;
  }

  libraryFile(dc: string, name: string): string {
    return path.join(this.libraryDir, dc, name.replace(/[^a-zA-Z0-9._()-]/g, "_"));
  }

  /**
   * What is left that a build should have removed: servers, unfinished commands, machines still
   * alive. (Library images are what builds make; they are listed by `catalog.library()`.)
   */
  leftovers(): { servers: string[]; commands: string[]; machines: string[] } {
    return {
      servers: [...this.servers.values()].map((s) => s.name),
      commands: this.queue
        .unfinished()
        .map((c: CommandState) => `${c.id} ${c.kind} ${c.server} (${c.status})`),
      machines: this.host.alive(),
    };
  }
}
