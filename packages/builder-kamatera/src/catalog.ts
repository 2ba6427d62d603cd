/**
 * The pre-flight checks, from two read-only answers: the server options (`GET /service/server`:
 * datacenters, and per datacenter the disk images — public ones and the account's library — by
 * which the API resolves `image`) and the datacenter's capabilities (`?capabilities=1`: CPU
 * types with their core counts and memory sizes, disk sizes). The create request fails on the
 * same things later, but with `Failed to run command method (createServer)` and no list.
 */
import { errors } from "./errors.js";
import type { DiskPlan } from "./params.js";

export interface DiskImage {
  id: string;
  description: string;
  sizeGB?: number;
}

export interface ServerOptions {
  datacenters?: Record<string, string>;
  diskImages?: Record<string, DiskImage[]>;
}

export interface Capabilities {
  diskSizeGB?: number[];
  cpuTypes?: Array<{ id: string; name?: string; cpuCores?: number[]; ramMB?: number[] }>;
}

export function checkDatacenter(opts: ServerOptions, dc: string): void {
  const known = Object.keys(opts.datacenters ?? {});
  if (known.length && !known.includes(dc))
    throw errors.config(
      `datacenter ${JSON.stringify(dc)} does not exist`,
      `Kamatera's datacenters: ${Object.entries(opts.datacenters ?? {})
        .map(([k, v]) => (v.startsWith(k) ? v : `${k} (${v})`))
        .join(", ")}.`,
    );
}

/** The image `image` names in datacenter `dc`, resolved as the API does, or undefined. */
export function resolveImage(images: DiskImage[], image: string, dc: string): DiskImage | undefined {
  if (/^[a-zA-Z0-9]+$/.test(image)) return images.find((i) => i.id === `${dc}:${image}` || i.id === image);
  const colon = /^([^:]+):(.+)$/.exec(image);
  if (colon && !/\s/.test(image)) {
    if (colon[1] !== dc)
      throw errors.config(
        `image ${image} is an image of datacenter ${colon[1]}, not of ${dc}`,
        "Use the image's name, or its ID in the build's datacenter.",
      );
    return images.find((i) => i.id === image);
  }
  return images.find((i) => i.description === image);
}

/** Names to offer: those that share the requested one's first word first, then the rest, at most 30. */
function suggestions(images: DiskImage[], image: string): string {
  const word = image.toLowerCase().split(/[_\s:-]/)[0] ?? "";
  const names = [...new Set(images.map((i) => i.description))].sort();
  const near = names.filter((n) => word && n.toLowerCase().startsWith(word));
  const list = [...near, ...names.filter((n) => !near.includes(n))];
  const shown = list.slice(0, 30).join(", ");
  return list.length > 30 ? `${shown} … and ${list.length - 30} more` : shown;
}

export function checkImage(opts: ServerOptions, image: string, dc: string): DiskImage | undefined {
  const images = opts.diskImages?.[dc];
  if (!images) return undefined; // an answer without the list: let the create request decide
  const hit = resolveImage(images, image, dc);
  if (!hit)
    throw errors.config(
      `image ${JSON.stringify(image)} is not available in datacenter ${dc}`,
      images.length ? `Images in ${dc}: ${suggestions(images, image)}.` : `Datacenter ${dc} lists no images.`,
    );
  return hit;
}

/** Library names the build would take that are taken already: Kamatera has no call to delete them. */
export function checkLibraryNames(opts: ServerOptions, dc: string, disks: DiskPlan[]): void {
  const taken = new Set((opts.diskImages?.[dc] ?? []).map((i) => i.description));
  const clash = disks.filter((d) => taken.has(d.imageName)).map((d) => d.imageName);
  if (clash.length)
    throw errors.error(
      "KILN_KAMATERA_IMAGE_EXISTS",
      `the hard-disk library of ${dc} already has an image named ${clash.join(", ")}`,
      "Choose another image_name (e.g. with ${{ timestamp() }} in it). kiln cannot replace it: Kamatera's API has no call to delete a library image (delete it in the console under Hard Disk Library).",
    );
}

export function checkCapabilities(
  caps: Capabilities,
  cpu: string,
  ramMB: number,
  disks: DiskPlan[],
  dc: string,
): void {
  const m = /^([0-9]+)([A-Za-z])$/.exec(cpu);
  const types = (caps.cpuTypes ?? []).filter((t) => typeof t?.id === "string");
  if (m && types.length) {
    const count = Number(m[1]);
    const type = types.find((t) => t.id.toUpperCase() === (m[2] as string).toUpperCase());
    if (!type)
      throw errors.config(
        `cpu ${cpu}: datacenter ${dc} has no CPU type ${m[2]}`,
        `CPU types in ${dc}: ${types.map((t) => `${t.id}${t.name ? ` (${t.name})` : ""}`).join(", ")}.`,
      );
    if (Array.isArray(type.cpuCores) && type.cpuCores.length && !type.cpuCores.includes(count))
      throw errors.config(
        `cpu ${cpu}: type ${type.id} comes with ${type.cpuCores.join(", ")} cores, not ${count}`,
      );
    if (Array.isArray(type.ramMB) && type.ramMB.length && !type.ramMB.includes(ramMB))
      throw errors.config(
        `ram ${ramMB}: CPU type ${type.id} in ${dc} takes ${type.ramMB.join(", ")} MiB`,
        "Pick one of those values.",
      );
  }
  const sizes = caps.diskSizeGB;
  if (Array.isArray(sizes) && sizes.length)
    for (const d of disks)
      if (!sizes.includes(d.sizeGB))
        throw errors.config(
          `disk ${d.index}: ${d.sizeGB} GiB is not a disk size of datacenter ${dc}`,
          `Sizes: ${sizes.join(", ")} GiB.`,
        );
}
