/**
 * Which entry of `POST /server/hdlib {name}` is which disk. The API flattens snapshot children
 * into the list, each child before the disk it belongs to (and of that disk's size), so the list
 * is [children of disk 0…, disk 0, children of disk 1…, disk 1, …]. Upstream takes the list only
 * when it has exactly one entry; kiln takes the last entry of each disk's run, telling runs
 * apart by size — and says so when it cannot (adjacent disks of the same size with snapshots).
 */
import { errors } from "./errors.js";

export interface HdlibEntry {
  uuid: string;
  sizeGB: number;
}

export function pickDisks(raw: unknown, sizes: number[], server: string): HdlibEntry[] {
  if (!Array.isArray(raw))
    throw errors.error(
      "KILN_KAMATERA_ANSWER",
      `the disk list of ${server} is not a list: ${JSON.stringify(raw)?.slice(0, 200)}`,
    );
  const entries = raw.map((e, i) => {
    const x = e as { uuid?: unknown; sizeGB?: unknown };
    const sizeGB = typeof x.sizeGB === "string" ? Number(x.sizeGB) : x.sizeGB;
    if (typeof x.uuid !== "string" || !x.uuid || typeof sizeGB !== "number" || !Number.isFinite(sizeGB))
      throw errors.error(
        "KILN_KAMATERA_ANSWER",
        `entry ${i} of the disk list of ${server} has no uuid and sizeGB: ${JSON.stringify(e)}`,
      );
    return { uuid: x.uuid, sizeGB };
  });
  const listed = entries.map((e) => `${e.sizeGB} GiB`).join(", ");
  if (entries.length === sizes.length) {
    if (entries.every((e, i) => e.sizeGB === sizes[i])) return entries;
  }
  if (entries.length < sizes.length)
    throw errors.error(
      "KILN_KAMATERA_DISKS",
      `${server} has ${entries.length} disk(s) (${listed || "none"}), the build asked for ${sizes.length}`,
    );
  // Runs of equal size: each run holds the disks of that size that are adjacent, with their children.
  const picked: HdlibEntry[] = [];
  let at = 0;
  for (let d = 0; d < sizes.length; ) {
    const size = sizes[d] as number;
    let n = 0; // adjacent disks of this size
    while (sizes[d + n] === size) n++;
    const run: HdlibEntry[] = [];
    while (at < entries.length && entries[at]?.sizeGB === size) run.push(entries[at++] as HdlibEntry);
    if (run.length < n || (n > 1 && run.length !== n))
      throw errors.error(
        "KILN_KAMATERA_DISKS",
        `kiln cannot tell which entry of ${server}'s disk list (${listed}) is disk ${d} (${size} GiB): the list does not match the disks ${sizes.join(", ")} GiB${n > 1 ? " (adjacent disks of the same size with snapshots)" : ""}`,
        "Give adjacent disks different sizes, or remove the server's snapshots.",
      );
    if (n === 1) picked.push(run[run.length - 1] as HdlibEntry);
    else picked.push(...run);
    d += n;
  }
  if (at !== entries.length)
    throw errors.error(
      "KILN_KAMATERA_DISKS",
      `${server}'s disk list (${listed}) has entries beyond the disks the build asked for (${sizes.join(", ")} GiB)`,
    );
  return picked;
}
