/**
 * Volumes, snapshots and images as real disk files: raw sparse files in the double's folder.
 * A new volume is a sparse file of its size; a snapshot is a sparse copy of its volume
 * (`cp --sparse=always`); a volume from a snapshot is a sparse copy grown to its size.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

export const GiB = 1024 ** 3;

export class DiskStore {
  constructor(readonly dir: string) {
    fs.mkdirSync(path.join(dir, "volumes"), { recursive: true });
    fs.mkdirSync(path.join(dir, "snapshots"), { recursive: true });
  }
  volumePath = (id: string) => path.join(this.dir, "volumes", `${id}.raw`);
  snapshotPath = (id: string) => path.join(this.dir, "snapshots", `${id}.raw`);

  createVolume(id: string, sizeGiB: number, fromSnapshot?: string): string {
    const file = this.volumePath(id);
    if (fromSnapshot) copySparse(this.snapshotPath(fromSnapshot), file);
    else fs.writeFileSync(file, "");
    if (fs.statSync(file).size < sizeGiB * GiB) fs.truncateSync(file, sizeGiB * GiB);
    return file;
  }
  snapshot(volumeId: string, snapshotId: string): string {
    const file = this.snapshotPath(snapshotId);
    copySparse(this.volumePath(volumeId), file);
    return file;
  }
  /** A snapshot made from a file (the seeded public image's root; a qcow2 is converted to raw). */
  importSnapshot(snapshotId: string, from: string, format = "raw"): string {
    const file = this.snapshotPath(snapshotId);
    if (format === "raw") copySparse(from, file);
    else {
      const r = spawnSync("qemu-img", ["convert", "-f", format, "-O", "raw", from, file], {
        encoding: "utf8",
      });
      if (r.status !== 0) throw new Error(`qemu-img convert ${from}: ${r.stderr || r.error?.message}`);
    }
    return file;
  }
  removeVolume(id: string): void {
    fs.rmSync(this.volumePath(id), { force: true });
  }
  removeSnapshot(id: string): void {
    fs.rmSync(this.snapshotPath(id), { force: true });
  }
  /** Files still present (the leftover listing checks them against the API's view). */
  files(): string[] {
    return ["volumes", "snapshots"].flatMap((d) =>
      fs.readdirSync(path.join(this.dir, d)).map((f) => `${d}/${f}`),
    );
  }
}

function copySparse(from: string, to: string): void {
  const r = spawnSync("cp", ["--sparse=always", from, to], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`cp ${from} ${to}: ${r.stderr || r.error?.message}`);
}
