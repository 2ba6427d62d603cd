/** Disk sizes as Packer's qemu builder reads them. */

const UNITS: Record<string, number> = { "": 1024 ** 2, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/**
 * A disk size in bytes: a number is MiB (Packer), a string is `<n>[K|M|G|T][i][B]` (binary
 * units, as qemu-img reads them); a bare numeric string is MiB too.
 */
export function parseSize(value: number | string): number {
  if (typeof value === "number") return Math.round(value * 1024 ** 2);
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?)i?B?$/i.exec(value.trim());
  if (!m) throw new Error(`invalid size ${JSON.stringify(value)}: use a number of MiB or e.g. 10G, 512M`);
  const unit = UNITS[(m[2] ?? "").toUpperCase()] as number;
  return Math.round(Number(m[1]) * unit);
}
