/**
 * The kiln file being written, before it is YAML: maps and lists whose entries carry the comments
 * of the Packer items they come from, where they come from, and — for what kiln has no
 * equivalent of — the reason they are written as a commented block instead.
 */
import type { Comments } from "../hcl/ast.js";
import type { Position } from "../report.js";

export type KNode = KMap | KSeq | KScalar;

export interface KScalar {
  kind: "scalar";
  value: string | number | boolean | null;
}

export interface KEntry {
  key: string;
  value: KNode;
  comments?: Comments;
  /** Where the Packer item is. */
  origin?: Position;
  /** Set when the entry is written as a commented block: why kiln has no equivalent. */
  disabled?: string;
  /** The Packer text it comes from: the commented block shows it rather than YAML. */
  raw?: string;
}

export interface KMap {
  kind: "map";
  entries: KEntry[];
  /** Comment lines after the last entry. */
  trailing?: string[];
  flow?: boolean;
}

export interface KItem {
  value: KNode;
  comments?: Comments;
  origin?: Position;
  disabled?: string;
  raw?: string;
}

export interface KSeq {
  kind: "seq";
  items: KItem[];
  trailing?: string[];
  flow?: boolean;
}

export const scalar = (value: KScalar["value"]): KScalar => ({ kind: "scalar", value });
export const kmap = (entries: KEntry[] = []): KMap => ({ kind: "map", entries });
export const kseq = (items: KItem[] = []): KSeq => ({ kind: "seq", items });

/** A plain value (JSON-like data) as a node. */
export function fromData(value: unknown): KNode {
  if (Array.isArray(value)) return kseq(value.map((v) => ({ value: fromData(v) })));
  if (value !== null && typeof value === "object")
    return kmap(Object.entries(value).map(([key, v]) => ({ key, value: fromData(v) })));
  if (value === undefined) return scalar(null);
  return scalar(value as KScalar["value"]);
}

/** The node as plain data (disabled entries left out). */
export function toData(node: KNode): unknown {
  switch (node.kind) {
    case "scalar":
      return node.value;
    case "seq":
      return node.items.filter((i) => !i.disabled).map((i) => toData(i.value));
    case "map": {
      const out: Record<string, unknown> = {};
      for (const e of node.entries) if (!e.disabled) out[e.key] = toData(e.value);
      return out;
    }
  }
}

export function entry(map: KMap, key: string): KEntry | undefined {
  return map.entries.find((e) => e.key === key && !e.disabled);
}

/** Whether a collection has entries that are written (not commented out). */
export function hasActive(node: KNode): boolean {
  if (node.kind === "map") return node.entries.some((e) => !e.disabled);
  if (node.kind === "seq") return node.items.some((i) => !i.disabled);
  return true;
}

/**
 * The entry or item at a kiln path (`["sources", "vm", "memory"]`, `["builds", 0, "provisioners", 2]`),
 * and the node holding it. Disabled entries are not found (they are not in the output's data).
 */
export function locate(
  root: KMap,
  path: ReadonlyArray<string | number>,
): { holder: KEntry | KItem; depth: number } | undefined {
  let node: KNode = root;
  let found: { holder: KEntry | KItem; depth: number } | undefined;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i];
    if (node.kind === "map" && typeof seg === "string") {
      const e: KEntry | undefined = entry(node, seg);
      if (!e) return found;
      found = { holder: e, depth: i + 1 };
      node = e.value;
    } else if (node.kind === "seq" && typeof seg === "number") {
      const active: KItem[] = node.items.filter((x) => !x.disabled);
      const it: KItem | undefined = active[seg];
      if (!it) return found;
      found = { holder: it, depth: i + 1 };
      node = it.value;
    } else return found;
  }
  return found;
}
