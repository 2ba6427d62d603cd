/**
 * `kiln cache prune`: remove checkpoints, least recently used first, until the cache holds at
 * most `keepBytes` (everything without it). A checkpoint goes with every checkpoint taken on
 * top of it (they could not be restored without it); ones whose parent is already gone go first.
 */
import { type CacheEntry, type CheckpointStore, descendants, orphans } from "./store.js";

export interface PruneOptions {
  /** Keep at most this many bytes; undefined removes every checkpoint. */
  keepBytes?: number;
  /** Remove what an external checkpoint holds outside the cache; false keeps the entry. */
  discard?: (entry: CacheEntry) => Promise<boolean>;
}

export interface PruneResult {
  removed: CacheEntry[];
  /** External checkpoints that could not be discarded, kept. */
  kept: CacheEntry[];
  freedBytes: number;
  remainingBytes: number;
}

export async function pruneCache(store: CheckpointStore, opts: PruneOptions = {}): Promise<PruneResult> {
  await store.sweep();
  const entries = await store.list();
  const doomed = orphans(entries);
  const size = (keys: Set<string>) =>
    entries.filter((e) => !keys.has(e.meta.key)).reduce((n, e) => n + e.meta.size, 0);
  if (opts.keepBytes === undefined) for (const e of entries) doomed.add(e.meta.key);
  else {
    // Oldest use first (list() is newest first).
    for (const e of [...entries].reverse()) {
      if (size(doomed) <= opts.keepBytes) break;
      if (doomed.has(e.meta.key)) continue;
      for (const k of descendants(entries, new Set([e.meta.key]))) doomed.add(k);
    }
  }
  const removed: CacheEntry[] = [];
  const kept: CacheEntry[] = [];
  // Children before parents: an interrupted prune never leaves a child without its parent.
  const order = entries.filter((e) => doomed.has(e.meta.key)).sort((a, b) => b.meta.index - a.meta.index);
  for (const e of order) {
    if (e.meta.external) {
      const ok = opts.discard ? await opts.discard(e).catch(() => false) : false;
      if (!ok) {
        kept.push(e);
        continue;
      }
    }
    await store.remove(e.meta.key);
    removed.push(e);
  }
  const freedBytes = removed.reduce((n, e) => n + e.meta.size, 0);
  const remainingBytes = entries.reduce((n, e) => n + e.meta.size, 0) - freedBytes;
  return { removed, kept, freedBytes, remainingBytes };
}
