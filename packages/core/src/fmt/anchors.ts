import { type Alias, type Document, isAlias, isCollection, isNode, isPair, type Node } from "yaml";

/** A place in the document tree holding a value: the document contents, a pair's key or value, a sequence item. */
export interface Slot {
  readonly node: unknown;
  set(value: unknown): void;
}

/** All slots of a document in document order (pre-order; a pair's key before its value). Aliases are not followed. */
export function* walkSlots(doc: Document): Generator<Slot> {
  const root: Slot = {
    node: doc.contents,
    set: (value) => {
      doc.contents = value as Document["contents"];
    },
  };
  yield root;
  yield* childSlots(root.node);
}

function* childSlots(node: unknown): Generator<Slot> {
  if (!isCollection(node)) return;
  const items = node.items as unknown[];
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    if (isPair(item)) {
      const pair = item;
      yield { node: pair.key, set: (value) => (pair.key = value) };
      yield* childSlots(pair.key);
      yield { node: pair.value, set: (value) => (pair.value = value) };
      yield* childSlots(pair.value);
    } else {
      const index = i;
      yield { node: item, set: (value) => (items[index] = value) };
      yield* childSlots(item);
    }
  }
}

/**
 * Records which node each alias refers to, and gives anchors that are defined more than once unique
 * names, so that moving nodes around cannot make an alias pick up a different definition.
 * Call before anything moves.
 */
export function resolveAliases(doc: Document): Map<Alias, Node> {
  const targets = new Map<Alias, Node>();
  const anchored: Node[] = [];
  for (const slot of walkSlots(doc)) {
    const node = slot.node;
    if (isAlias(node)) {
      const target = node.resolve(doc);
      if (target) targets.set(node, target);
    } else if (isNode(node) && node.anchor) {
      anchored.push(node);
    }
  }
  const used = new Set(anchored.map((node) => node.anchor as string));
  const seen = new Set<string>();
  for (const node of anchored) {
    const name = node.anchor as string;
    if (!seen.has(name)) {
      seen.add(name);
      continue;
    }
    let n = 2;
    while (used.has(`${name}${n}`)) n++;
    node.anchor = `${name}${n}`;
    used.add(node.anchor);
  }
  for (const [alias, target] of targets) if (target.anchor) alias.source = target.anchor;
  return targets;
}

/**
 * After keys moved, an alias may come before the anchor it refers to, which YAML does not allow.
 * Fix that by swapping: the full node goes where the first alias is, and an alias takes its old place.
 * The data is unchanged; only where the anchor is written moves.
 */
export function fixAliasOrder(doc: Document, targets: ReadonlyMap<Alias, Node>): void {
  for (let guard = 0; guard <= targets.size; guard++) {
    const seen = new Set<unknown>();
    let misplaced: { slot: Slot; alias: Alias; target: Node } | undefined;
    for (const slot of walkSlots(doc)) {
      const node = slot.node;
      if (isAlias(node)) {
        const target = targets.get(node);
        if (target && !seen.has(target)) {
          misplaced = { slot, alias: node, target };
          break;
        }
      } else if (isNode(node)) {
        seen.add(node);
      }
    }
    if (!misplaced) return;
    const { slot, alias, target } = misplaced;
    let targetSlot: Slot | undefined;
    for (const other of walkSlots(doc)) {
      if (other.node === target) {
        targetSlot = other;
        break;
      }
    }
    if (!targetSlot) return;
    // Leading comments and blank lines belong to the position, not to the value.
    swapDecorations(alias, target);
    slot.set(target);
    targetSlot.set(alias);
  }
}

function swapDecorations(a: Node, b: Node): void {
  const { commentBefore, spaceBefore } = a;
  a.commentBefore = b.commentBefore;
  a.spaceBefore = b.spaceBefore;
  b.commentBefore = commentBefore;
  b.spaceBefore = spaceBefore;
}
