/**
 * Where guests' addresses come from. An AddressPool hands out one host address per guest; the
 * guest's forwarded ports live on it, so a client that only knows the address reaches the
 * guest on the default port. Addresses are unique across processes (parallel test workers,
 * several doubles) through claim files (claims.ts).
 *
 * - LoPool (lo-pool.ts): 198.18.0.0/15 addresses added to `lo`: what clients take for a real
 *   machine's address. The default where this process may add addresses (root).
 * - LoopbackPool (here): 127.0.0.N (N = 2…254; all of 127/8 is loopback on Linux, 127.0.0.1
 *   stays the host's), which needs no rights — but clients skip loopback addresses (Packer's
 *   proxmox builder skips every address in 127/8), so it is only the fallback of a non-root
 *   dev machine (default-pool.ts).
 */
import os from "node:os";
import path from "node:path";
import { ClaimDir } from "./claims.js";
import { isLoopbackV4 } from "./ipv4.js";

export { isLoopbackV4 };

export interface AddressPool {
  /** Directory of its claim files. */
  readonly dir: string;
  /** The addresses it hands out, for messages ("127.0.0.2-127.0.0.254"). */
  readonly range: string;
  /** Whether `address` is one this kind of pool hands out (a guest may be given it). */
  contains(address: string): boolean;
  /** Claims a free address; throws when all are held (or it cannot be set up). */
  allocate(): string;
  /** Gives an address back (only ones this pool claimed). */
  release(address: string): void;
  /** The addresses this pool holds. */
  held(): string[];
  /** Releases everything. */
  releaseAll(): void;
}

export interface LoopbackPoolOptions {
  /** Directory of the claim files (default `$TMPDIR/kiln-loopback`, shared by every runner). */
  dir?: string;
  /** Lowest and highest N of 127.0.0.N (default 2 and 254). */
  first?: number;
  last?: number;
}

export const DEFAULT_LOOPBACK_DIR = path.join(os.tmpdir(), "kiln-loopback");

export class LoopbackPool implements AddressPool {
  readonly dir: string;
  private readonly claims: ClaimDir;
  private readonly first: number;
  private readonly last: number;
  private readonly mine = new Set<string>();
  private next: number;

  constructor(o: LoopbackPoolOptions = {}) {
    this.dir = o.dir ?? DEFAULT_LOOPBACK_DIR;
    this.claims = new ClaimDir(this.dir);
    this.first = o.first ?? 2;
    this.last = o.last ?? 254;
    if (this.first < 1 || this.last > 254 || this.first > this.last)
      throw new Error(`LoopbackPool: bad range 127.0.0.${this.first}-${this.last}`);
    // start where another process is unlikely to be, so claims rarely collide
    this.next = this.first + (process.pid % (this.last - this.first + 1));
  }

  get range(): string {
    return `127.0.0.${this.first}-127.0.0.${this.last}`;
  }

  /** Any of 127/8: every one is this host's. */
  contains(address: string): boolean {
    return isLoopbackV4(address);
  }

  /** Claims a free 127.0.0.N; throws when all are held. */
  allocate(): string {
    const n = this.last - this.first + 1;
    for (let i = 0; i < n; i++) {
      const addr = `127.0.0.${this.next}`;
      this.next = this.next >= this.last ? this.first : this.next + 1;
      if (this.claims.claim(addr)) {
        this.mine.add(addr);
        return addr;
      }
    }
    throw new Error(`no free loopback address in ${this.range} (claims in ${this.dir}): stop other guests`);
  }

  release(addr: string): void {
    if (!this.mine.delete(addr)) return;
    this.claims.release(addr);
  }

  held(): string[] {
    return [...this.mine];
  }

  /** Releases everything; removes the directory when no one else holds an address. */
  releaseAll(): void {
    for (const a of [...this.mine]) this.release(a);
    this.claims.removeIfEmpty();
  }
}
