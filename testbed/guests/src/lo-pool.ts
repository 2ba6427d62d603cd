/**
 * LoPool: guest addresses from 198.18.0.0/15 (RFC 2544's benchmarking range: not loopback,
 * never routed on the internet), each added to the host's `lo` as /32 when handed out and
 * removed when given back — so a guest's address is one a client such as Packer takes for a
 * machine's (it skips loopback addresses), yet only this host reaches it.
 *
 * Which address is whose: a claim file per address (claims.ts; the owner's pid) in `dir`,
 * created before the address is added and removed after it is gone; on lo, kiln's addresses
 * carry the label `lo:kiln`. An address already on lo is used only when it carries that label
 * (a leftover of a process that died); anyone else's is skipped. At creation the pool sweeps
 * its range: kiln-labelled addresses whose claim is stale or missing, and stale claims, are
 * removed (by claiming them first, so a live process's address is never touched).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { AddressPool } from "./addresses.js";
import { ClaimDir } from "./claims.js";
import { inCidr, intToIpv4, ipv4ToInt } from "./ipv4.js";
import { ipLo, KILN_LO_LABEL, type LoOps } from "./lo.js";

export const BENCHMARK_RANGE = "198.18.0.0/15";

/**
 * Default claim directory: under /run (the addresses on lo and /run both end with the boot;
 * $TMPDIR is per test at times, and every process must see the same claims).
 */
export function defaultLoClaimDir(): string {
  try {
    fs.accessSync("/run", fs.constants.W_OK);
    return "/run/kiln-addresses";
  } catch {
    return path.join(os.tmpdir(), "kiln-addresses");
  }
}

export interface LoPoolOptions {
  /** Directory of the claim files (default defaultLoClaimDir()). */
  dir?: string;
  /** First and last address handed out (default 198.18.0.2 and 198.18.255.254), in 198.18.0.0/15. */
  first?: string;
  last?: string;
  /** How addresses get on and off lo (default `ip`). */
  lo?: LoOps;
}

/** Host parts a machine on a /24 would not have: network, the usual gateway, broadcast. */
const usable = (n: number) => {
  const h = n & 255;
  return h !== 0 && h !== 1 && h !== 255;
};

export class LoPool implements AddressPool {
  readonly dir: string;
  private readonly claims: ClaimDir;
  private readonly lo: LoOps;
  private readonly first: number;
  private readonly last: number;
  private readonly mine = new Set<string>();
  private next: number;
  private readonly onExit = () => {
    try {
      this.releaseAll();
    } catch {
      /* the sweep of the next pool removes what is left */
    }
  };

  constructor(o: LoPoolOptions = {}) {
    this.dir = o.dir ?? defaultLoClaimDir();
    this.claims = new ClaimDir(this.dir);
    this.lo = o.lo ?? ipLo;
    const first = ipv4ToInt(o.first ?? "198.18.0.2");
    const last = ipv4ToInt(o.last ?? "198.18.255.254");
    if (
      first === undefined ||
      last === undefined ||
      first > last ||
      !inCidr(intToIpv4(first), BENCHMARK_RANGE) ||
      !inCidr(intToIpv4(last), BENCHMARK_RANGE)
    )
      throw new Error(`LoPool: bad range ${o.first}-${o.last} (both in ${BENCHMARK_RANGE})`);
    this.first = first;
    this.last = last;
    // start where another process is unlikely to be, so claims rarely collide
    this.next = first + (process.pid % (last - first + 1));
    this.sweep();
  }

  get range(): string {
    return `${intToIpv4(this.first)}-${intToIpv4(this.last)}`;
  }

  contains(address: string): boolean {
    const n = ipv4ToInt(address);
    return n !== undefined && n >= this.first && n <= this.last;
  }

  private kilnOnLo(address: string): boolean {
    return this.lo.list().some((a) => a.address === address && a.label === KILN_LO_LABEL);
  }

  /** Claims a free address and adds it to lo; throws when all are held or adding fails. */
  allocate(): string {
    const count = this.last - this.first + 1;
    for (let i = 0; i < count; i++) {
      const n = this.next;
      this.next = n >= this.last ? this.first : n + 1;
      if (!usable(n)) continue;
      const addr = intToIpv4(n);
      if (!this.claims.claim(addr)) continue;
      let how: "added" | "exists";
      try {
        how = this.lo.add(addr);
      } catch (e) {
        this.claims.release(addr);
        throw new Error(`guest address ${addr}: ${(e as Error).message}`);
      }
      if (how === "exists" && !this.kilnOnLo(addr)) {
        this.claims.release(addr); // someone else's address: not ours to use or remove
        continue;
      }
      if (this.mine.size === 0) process.once("exit", this.onExit);
      this.mine.add(addr);
      return addr;
    }
    throw new Error(`no free guest address in ${this.range} (claims in ${this.dir}): stop other guests`);
  }

  /** Removes the address from lo, then gives up its claim (kept when removing fails: it is still there). */
  release(addr: string): void {
    if (!this.mine.has(addr)) return;
    this.lo.remove(addr);
    this.mine.delete(addr);
    this.claims.release(addr);
    if (this.mine.size === 0) process.removeListener("exit", this.onExit);
  }

  held(): string[] {
    return [...this.mine];
  }

  /** Releases everything (every address is tried; the first failure is thrown after). */
  releaseAll(): void {
    let failed: unknown;
    for (const a of [...this.mine]) {
      try {
        this.release(a);
      } catch (e) {
        failed ??= e;
      }
    }
    this.claims.removeIfEmpty();
    if (failed) throw failed;
  }

  /**
   * Removes, in this pool's range, kiln-labelled addresses on lo whose claim is stale or
   * missing, and stale claims. Each is claimed first: one a live process holds is left alone.
   */
  sweep(): string[] {
    const onLo = this.lo
      .list()
      .filter((a) => a.label === KILN_LO_LABEL && this.contains(a.address))
      .map((a) => a.address);
    const staleClaims = this.claims.names().filter((n) => this.contains(n) && this.claims.stale(n));
    const removed: string[] = [];
    for (const addr of new Set([...onLo, ...staleClaims])) {
      if (this.mine.has(addr) || !this.claims.claim(addr)) continue;
      try {
        if (onLo.includes(addr)) this.lo.remove(addr);
        removed.push(addr);
      } catch {
        /* still there: a later sweep tries again */
      }
      this.claims.release(addr);
    }
    return removed;
  }
}
