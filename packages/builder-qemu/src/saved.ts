/** What a qemu checkpoint records about itself (its `data` in meta.json), and reading it back. */
import { join } from "node:path";
import { type CheckpointInfo, CheckpointUnusableError } from "@kiln/core";
import type { Accel } from "./state.js";
import type { VmStateFile } from "./vmstate.js";

export interface SavedVm {
  /** `qemu-system-… --version`'s first line. */
  qemu: string;
  accel: Accel;
  /** The layer of each disk in the checkpoint's folder, in the order of the disks. */
  disks: Array<{ file: string; format: string }>;
  vmstate: VmStateFile;
  /** The EFI variables (pflash) and the floppy as they were, when the machine had them. */
  efivars?: string;
  floppy?: string;
  /** The cd_files ISO, kept once in the checkpoint that first had it. */
  cd?: { key: string; file: string };
  /** The format of the disk image the disks were made from (disk_image). */
  sourceFormat?: string;
  /** Resets the guest had been through: an install that rebooted boots from its disk on a later reset. */
  resets: number;
}

/** The saved data of `point`, checked enough to restore from. */
export function savedVm(point: CheckpointInfo): SavedVm {
  const d = point.data as Partial<SavedVm>;
  if (!d || typeof d.qemu !== "string" || !Array.isArray(d.disks) || !d.vmstate?.sha256)
    throw new CheckpointUnusableError(
      `checkpoint ${point.key.slice(0, 12)} was not saved by the qemu builder`,
    );
  return d as SavedVm;
}

/** The folder of `point` or of the checkpoint below it with `key`. */
export function folderOf(point: CheckpointInfo, key: string): string {
  for (let p: CheckpointInfo | undefined = point; p; p = p.parent) if (p.key === key) return p.dir;
  throw new CheckpointUnusableError(`the checkpoint that holds its CD (${key.slice(0, 12)}) is not below it`);
}

export const vmstatePath = (point: CheckpointInfo) => join(point.dir, "vmstate");
