import { isMap, isNode, isScalar, isSeq, type Pair, type YAMLMap } from "yaml";

/** Canonical key orders of the build file. Keys not listed keep their original relative order, after the listed ones. */
export const TOP_LEVEL_ORDER = [
  "kiln",
  // Your own `x-…` keys (anchors that sources share) stay before what uses them.
  "x-*",
  "plugins",
  "variables",
  "locals",
  "data",
  "sources",
  "builds",
] as const;
export const VARIABLE_ORDER = ["type", "description", "default", "sensitive", "env", "validation"] as const;
export const VALIDATION_ORDER = ["condition", "error_message"] as const;
export const BUILD_ORDER = [
  "name",
  "description",
  "sources",
  "provisioners",
  "error-cleanup-provisioner",
  "post-processors",
] as const;
/** Sources, data sources, provisioners and post-processors: `type` first, the rest as the user grouped them. */
export const TYPE_FIRST = ["type"] as const;

/** The string a pair's key stands for, or undefined for keys that are not plain scalars. */
export function keyName(pair: Pair): string | undefined {
  const key = pair.key;
  if (isScalar(key)) return typeof key.value === "string" ? key.value : undefined;
  if (isNode(key)) return undefined;
  return typeof key === "string" ? key : undefined;
}

/**
 * Stable reorder of a map's pairs: listed keys first in the given order, the others after them in
 * their original order. `beforeMove` runs only when the order actually changes, before any pair moves.
 * Returns whether anything moved.
 */
export function reorderMap(
  map: YAMLMap<unknown, unknown>,
  order: readonly string[],
  beforeMove?: (map: YAMLMap<unknown, unknown>) => void,
): boolean {
  const items = map.items;
  if (items.length < 2) return false;
  const rank = (pair: Pair<unknown, unknown>): number => {
    const name = keyName(pair);
    let index = name === undefined ? -1 : order.indexOf(name);
    if (index === -1 && name?.startsWith("x-")) index = order.indexOf("x-*");
    return index === -1 ? order.length : index;
  };
  const ranked = items.map((pair, index) => ({ pair, index, rank: rank(pair) }));
  ranked.sort((a, b) => a.rank - b.rank || a.index - b.index);
  if (ranked.every((entry, i) => entry.index === i)) return false;
  beforeMove?.(map);
  map.items = ranked.map((entry) => entry.pair);
  return true;
}

/** The value of `key` in `map` when it is a node (aliases are not followed). */
export function childOf(map: YAMLMap<unknown, unknown>, key: string): unknown {
  for (const pair of map.items) if (keyName(pair) === key) return pair.value;
  return undefined;
}

/** Calls `fn` for each map value of a map (e.g. each variable of `variables`). */
export function eachMapValue(node: unknown, fn: (value: YAMLMap<unknown, unknown>) => void): void {
  if (!isMap(node)) return;
  for (const pair of node.items) if (isMap(pair.value)) fn(pair.value);
}

/** Calls `fn` for each map item of a sequence. */
export function eachSeqMap(node: unknown, fn: (value: YAMLMap<unknown, unknown>) => void): void {
  if (!isSeq(node)) return;
  for (const item of node.items) if (isMap(item)) fn(item);
}

/**
 * Applies the canonical key orders of a build file to its root map. `beforeMove` is passed to every
 * reorder (the formatter uses it to keep a map's leading comment with the key it was written above).
 */
export function applyBuildFileOrder(
  root: YAMLMap<unknown, unknown>,
  beforeMove?: (map: YAMLMap<unknown, unknown>) => void,
): void {
  const reorder = (map: YAMLMap<unknown, unknown>, order: readonly string[]) => {
    reorderMap(map, order, beforeMove);
  };
  const typeFirst = (map: YAMLMap<unknown, unknown>) => reorder(map, TYPE_FIRST);

  reorder(root, TOP_LEVEL_ORDER);

  eachMapValue(childOf(root, "variables"), (variable) => {
    reorder(variable, VARIABLE_ORDER);
    const validation = childOf(variable, "validation");
    if (isMap(validation)) reorder(validation, VALIDATION_ORDER);
    eachSeqMap(validation, (rule) => reorder(rule, VALIDATION_ORDER));
  });
  eachMapValue(childOf(root, "sources"), typeFirst);
  eachMapValue(childOf(root, "data"), typeFirst);

  eachSeqMap(childOf(root, "builds"), (build) => {
    reorder(build, BUILD_ORDER);
    eachSeqMap(childOf(build, "provisioners"), typeFirst);
    const cleanup = childOf(build, "error-cleanup-provisioner");
    if (isMap(cleanup)) typeFirst(cleanup);
    eachSeqMap(cleanup, typeFirst);
    const postProcessors = childOf(build, "post-processors");
    if (isSeq(postProcessors)) {
      for (const item of postProcessors.items) {
        if (isMap(item)) typeFirst(item);
        else eachSeqMap(item, typeFirst); // a chain: a list of post-processors run in sequence
      }
    }
  });
}
