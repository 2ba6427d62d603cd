/**
 * Disk files for guests (qemu-img): the doubles keep volumes, snapshots and images as real
 * files; these make a qcow2 overlay on a base, a standalone copy, an empty disk, and read a
 * file's format and size.
 */
import { run } from "./exec.js";

export type DiskFormat = "qcow2" | "raw" | "vmdk" | "vdi" | "vhdx" | "qed";

export interface DiskInfo {
  format: string;
  /** Virtual size in bytes. */
  virtualSize: number;
  /** Bytes used on the host. */
  actualSize?: number;
  backingFile?: string;
}

export async function diskInfo(file: string): Promise<DiskInfo> {
  const j = JSON.parse(await run("qemu-img", ["info", "--output=json", "-U", file])) as {
    format: string;
    "virtual-size": number;
    "actual-size"?: number;
    "backing-filename"?: string;
  };
  return {
    format: j.format,
    virtualSize: j["virtual-size"],
    ...(j["actual-size"] !== undefined ? { actualSize: j["actual-size"] } : {}),
    ...(j["backing-filename"] ? { backingFile: j["backing-filename"] } : {}),
  };
}

/** A qcow2 file whose reads fall through to `base` (never written); optionally larger than it. */
export async function createOverlay(
  base: string,
  output: string,
  o: { baseFormat?: string; sizeBytes?: number } = {},
): Promise<string> {
  const fmt = o.baseFormat ?? (await diskInfo(base)).format;
  await run("qemu-img", [
    "create",
    "-q",
    "-f",
    "qcow2",
    "-b",
    base,
    "-F",
    fmt,
    output,
    ...(o.sizeBytes ? [String(o.sizeBytes)] : []),
  ]);
  return output;
}

/** A standalone copy (no backing file) of `src` in `format` (default qcow2), e.g. an image from a volume. */
export async function copyDisk(
  src: string,
  output: string,
  o: { format?: DiskFormat; srcFormat?: string; compress?: boolean } = {},
): Promise<string> {
  await run("qemu-img", [
    "convert",
    ...(o.srcFormat ? ["-f", o.srcFormat] : []),
    "-O",
    o.format ?? "qcow2",
    ...(o.compress ? ["-c"] : []),
    src,
    output,
  ]);
  return output;
}

/** An empty disk of `sizeBytes`. */
export async function createDisk(
  output: string,
  sizeBytes: number,
  format: DiskFormat = "qcow2",
): Promise<string> {
  await run("qemu-img", ["create", "-q", "-f", format, output, String(sizeBytes)]);
  return output;
}

/** Grows a disk to `sizeBytes` (never shrinks). */
export async function resizeDisk(file: string, sizeBytes: number, format?: string): Promise<void> {
  await run("qemu-img", ["resize", "-q", ...(format ? ["-f", format] : []), file, String(sizeBytes)]);
}
