/**
 * What the template defines, and the names kiln gives them: a source is `sources.<name>` in kiln
 * (its type beside it), so two Packer sources of one name and different types need two names; data
 * sources are `data.<name>`. Each entry says whether it is imported, and if not, why.
 */
import type { Block } from "../hcl/ast.js";

export interface Named {
  /** Packer's reference: `source.qemu.vm`, `data.http.x`. */
  ref: string;
  type: string;
  /** The kiln type (Packer's deprecated `proxmox` is `proxmox-iso`). */
  kilnType: string;
  name: string;
  /** The kiln name. */
  kiln: string;
  block: Block;
  /** Why it is not imported; undefined when it is. */
  dropped?: string;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** A name kiln accepts (letters, digits, `_`, `-`; not starting with a digit or `-`). */
export function kilnName(name: string): string {
  if (NAME.test(name)) return name;
  const cleaned = name.replace(/[^A-Za-z0-9_-]+/g, "_");
  return /^[A-Za-z_]/.test(cleaned) ? cleaned : `_${cleaned}`;
}

/** kiln names for `(type, name)` pairs: the name itself where it is unique among the imported ones. */
export function assignNames(items: Named[]): void {
  const active = items.filter((i) => !i.dropped);
  const count = new Map<string, number>();
  for (const i of active) count.set(kilnName(i.name), (count.get(kilnName(i.name)) ?? 0) + 1);
  const taken = new Set<string>();
  for (const i of active) {
    const base = kilnName(i.name);
    let n = (count.get(base) ?? 0) > 1 ? kilnName(`${i.kilnType}-${i.name}`) : base;
    for (let k = 2; taken.has(n); k++) n = `${base}-${k}`;
    taken.add(n);
    i.kiln = n;
  }
  for (const i of items) if (i.dropped) i.kiln = kilnName(i.name);
}

/** Packer types that kiln serves under another name. */
export const TYPE_ALIASES: Record<string, string> = {
  // Packer's proxmox builder was renamed proxmox-iso; the old name still works there.
  proxmox: "proxmox-iso",
};
