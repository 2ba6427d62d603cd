/**
 * One loopback address per guest. All of 127.0.0.0/8 is loopback on Linux, so each guest gets
 * its own 127.0.0.N (N = 2…254; 127.0.0.1 stays the host's) and its forwarded ports live on
 * that address: a client that only knows the address reaches the guest on the default port.
 *
 * Addresses are unique across processes (parallel test workers, several doubles): each one
 * held is a file `<dir>/127.0.0.N` created exclusively, holding the owner's pid; a file whose
 * process is gone is taken over.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export interface LoopbackPoolOptions {
  /** Directory of the claim files (default `$TMPDIR/kiln-loopback`, shared by every runner). */
  dir?: string;
  /** Lowest and highest N of 127.0.0.N (default 2 and 254). */
  first?: number;
  last?: number;
}

export const DEFAULT_LOOPBACK_DIR = path.join(os.tmpdir(), "kiln-loopback");

/** True for an IPv4 address in 127.0.0.0/8. */
export const isLoopbackV4 = (a: string): boolean => /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(a);

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

export class LoopbackPool {
  readonly dir: string;
  private readonly first: number;
  private readonly last: number;
  private readonly mine = new Set<string>();
  private next: number;

  constructor(o: LoopbackPoolOptions = {}) {
    this.dir = o.dir ?? DEFAULT_LOOPBACK_DIR;
    this.first = o.first ?? 2;
    this.last = o.last ?? 254;
    if (this.first < 1 || this.last > 254 || this.first > this.last)
      throw new Error(`LoopbackPool: bad range 127.0.0.${this.first}-${this.last}`);
    // start where another process is unlikely to be, so claims rarely collide
    this.next = this.first + (process.pid % (this.last - this.first + 1));
  }

  /** Claims a free 127.0.0.N; throws when all are held. */
  allocate(): string {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o1777 });
    const n = this.last - this.first + 1;
    for (let i = 0; i < n; i++) {
      const addr = `127.0.0.${this.next}`;
      this.next = this.next >= this.last ? this.first : this.next + 1;
      if (this.claim(addr)) return addr;
    }
    throw new Error(
      `no free loopback address in 127.0.0.${this.first}-${this.last} (claims in ${this.dir}): stop other guests`,
    );
  }

  private claim(addr: string): boolean {
    const file = path.join(this.dir, addr);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        fs.writeFileSync(file, `${process.pid}\n`, { flag: "wx" });
        this.mine.add(addr);
        return true;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      }
      let owner = Number.NaN;
      try {
        owner = Number.parseInt(fs.readFileSync(file, "utf8"), 10);
      } catch {
        continue; // released meanwhile: try again
      }
      // an empty file may be a claim being written right now: leave it
      if (Number.isNaN(owner) || owner === process.pid || alive(owner)) return false;
      fs.rmSync(file, { force: true }); // stale: its process is gone
    }
    return false;
  }

  /** Gives an address back (only ones this pool claimed). */
  release(addr: string): void {
    if (!this.mine.delete(addr)) return;
    fs.rmSync(path.join(this.dir, addr), { force: true });
  }

  /** The addresses this pool holds. */
  held(): string[] {
    return [...this.mine];
  }

  /** Releases everything; removes the directory when no one else holds an address. */
  releaseAll(): void {
    for (const a of [...this.mine]) this.release(a);
    try {
      fs.rmdirSync(this.dir);
    } catch {
      /* others still hold addresses, or already gone */
    }
  }
}
