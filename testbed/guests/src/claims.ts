/**
 * Claims on names (addresses) shared by every process on the machine: a claim is a file
 * `<dir>/<name>` created exclusively, holding the owner's pid. A claim whose process is gone
 * is stale and is taken over: the stale file is first renamed away (only one process wins
 * the rename), so two processes never both take over the same claim.
 */
import fs from "node:fs";
import path from "node:path";

/** Whether process `pid` exists. */
export function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

const code = (e: unknown) => (e as NodeJS.ErrnoException).code;

/** How a claim was got: a new one, or taken over from a process that is gone. */
export type Claimed = "fresh" | "taken-over";

export class ClaimDir {
  constructor(readonly dir: string) {}

  private file(name: string): string {
    return path.join(this.dir, name);
  }

  /** The pid in a claim file: undefined when there is none, NaN while it is being written. */
  owner(name: string): number | undefined {
    try {
      return Number.parseInt(fs.readFileSync(this.file(name), "utf8"), 10);
    } catch (e) {
      if (code(e) === "ENOENT") return undefined;
      throw e;
    }
  }

  /** Whether `name` has a claim file whose owner is gone. */
  stale(name: string): boolean {
    const o = this.owner(name);
    return o !== undefined && !Number.isNaN(o) && o !== process.pid && !alive(o);
  }

  /** Claims `name` for this process; undefined when someone alive holds it. */
  claim(name: string): Claimed | undefined {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o1777 });
    const file = this.file(name);
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        fs.writeFileSync(file, `${process.pid}\n`, { flag: "wx" });
        return "fresh";
      } catch (e) {
        if (code(e) !== "EEXIST") throw e;
      }
      const owner = this.owner(name);
      if (owner === undefined) continue; // released meanwhile: try again
      // an empty file may be a claim being written right now: leave it
      if (Number.isNaN(owner) || owner === process.pid || alive(owner)) return undefined;
      const away = `${file}.${process.pid}.stale`;
      try {
        fs.renameSync(file, away);
      } catch (e) {
        if (code(e) === "ENOENT") continue; // another process took it over first
        throw e;
      }
      const moved = Number.parseInt(fs.readFileSync(away, "utf8"), 10);
      if (moved !== owner && (Number.isNaN(moved) || alive(moved))) {
        // between reading and renaming, someone took it over: give theirs back
        try {
          fs.linkSync(away, file);
        } catch {
          /* a third claim meanwhile: theirs stays */
        }
        fs.rmSync(away, { force: true });
        return undefined;
      }
      fs.rmSync(away, { force: true });
      try {
        fs.writeFileSync(file, `${process.pid}\n`, { flag: "wx" });
        return "taken-over";
      } catch (e) {
        if (code(e) === "EEXIST") return undefined; // claimed afresh meanwhile: theirs
        throw e;
      }
    }
    return undefined;
  }

  /** Gives up a claim (only one this process holds). */
  release(name: string): void {
    if (this.owner(name) === process.pid) fs.rmSync(this.file(name), { force: true });
  }

  /** Names with a claim file (stale or not). */
  names(): string[] {
    try {
      return fs.readdirSync(this.dir).filter((n) => !n.endsWith(".stale"));
    } catch {
      return [];
    }
  }

  /** Removes the directory when no claims are left in it. */
  removeIfEmpty(): void {
    try {
      fs.rmdirSync(this.dir);
    } catch {
      /* others still hold claims, or already gone */
    }
  }
}
