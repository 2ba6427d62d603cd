/**
 * The model as YAML text in kiln's canonical form: a `yaml` document with the comments on the keys
 * and items they belong to, commented blocks for what has no kiln equivalent, then `kiln fmt`'s
 * formatter, so the result passes `kiln fmt --check`.
 */
import { formatDocument, parseYaml } from "@kiln/core";
import { Document, Pair, Scalar, YAMLMap, YAMLSeq } from "yaml";
import type { Comments } from "../hcl/ast.js";
import type { KEntry, KItem, KMap, KNode } from "./model.js";

const TEXT_OPTIONS = {
  indent: 2,
  indentSeq: true,
  lineWidth: 0,
  minContentWidth: 0,
  flowCollectionPadding: false,
  doubleQuotedMinMultiLineLength: Number.MAX_SAFE_INTEGER,
} as const;

type YNode = Scalar | YAMLMap | YAMLSeq;

/** Comment lines as the yaml library keeps them: the text after `#`. */
const asComment = (lines: readonly string[]): string | null => (lines.length ? lines.join("\n") : null);

function scalarNode(value: string | number | boolean | null): Scalar {
  const s = new Scalar(value);
  if (typeof value === "string" && value.includes("\n") && !/[^\S\n]\n|\s$/.test(value.replace(/\n+$/, "")))
    s.type = Scalar.BLOCK_LITERAL;
  return s;
}

/** The YAML text of one entry or item alone, for its commented block. */
function blockText(node: KNode, key: string | undefined, describe: (e: KEntry | KItem) => string): string[] {
  const doc = new Document();
  const value = build(node, describe);
  if (key === undefined) {
    const seq = new YAMLSeq();
    seq.items.push(value);
    doc.contents = seq;
  } else {
    const map = new YAMLMap();
    map.items.push(new Pair(new Scalar(key), value));
    doc.contents = map;
  }
  return doc.toString(TEXT_OPTIONS).replace(/\n$/, "").split("\n");
}

/** For a collection that has entries, none of them written: the comment lines standing for them. */
function commentOnly(node: KNode, describe: (e: KEntry | KItem) => string): string[] | undefined {
  if (node.kind === "map" && node.entries.length > 0 && node.entries.every((e) => e.disabled))
    return [...node.entries.flatMap((e) => disabledLines(e, e.key, describe)), ...(node.trailing ?? [])];
  if (node.kind === "seq" && node.items.length > 0 && node.items.every((i) => i.disabled))
    return [...node.items.flatMap((i) => disabledLines(i, undefined, describe)), ...(node.trailing ?? [])];
  return undefined;
}

/** The comment lines standing for a disabled entry or item. */
function disabledLines(
  x: KEntry | KItem,
  key: string | undefined,
  describe: (e: KEntry | KItem) => string,
): string[] {
  const own = x.comments?.before ?? [];
  const text = x.raw !== undefined ? x.raw.split("\n") : blockText(x.value, key, describe);
  return [...own, ` kiln import: ${describe(x)}`, ...text.map((l) => ` ${l}`)];
}

function applyComments(
  node: Scalar | YNode,
  keyOrItem: Scalar | YNode,
  c: Comments | undefined,
  pending: string[],
): void {
  const before = [...pending, ...(c?.before ?? [])];
  if (before.length) keyOrItem.commentBefore = asComment(before);
  if (c?.after !== undefined) {
    if (node instanceof Scalar) node.comment = c.after;
    else keyOrItem.commentBefore = asComment([...before, c.after]);
  }
}

function build(node: KNode, describe: (e: KEntry | KItem) => string): YNode {
  switch (node.kind) {
    case "scalar":
      return scalarNode(node.value);
    case "map": {
      const map = new YAMLMap();
      map.flow = node.flow === true;
      let pending: string[] = [];
      for (const e of node.entries) {
        if (e.disabled) {
          pending.push(...disabledLines(e, e.key, describe));
          continue;
        }
        const only = commentOnly(e.value, describe);
        if (only) {
          // Everything in it is commented: the key with its commented content.
          pending.push(...(e.comments?.before ?? []), ` ${e.key}:`, ...only.map((l) => `  ${l}`));
          continue;
        }
        const key = new Scalar(e.key);
        const value = build(e.value, describe);
        applyComments(value, key, e.comments, pending);
        pending = [];
        map.items.push(new Pair(key, value));
      }
      const trailing = [...pending, ...(node.trailing ?? [])];
      if (trailing.length) {
        map.flow = false;
        map.comment = asComment(trailing);
      }
      return map;
    }
    case "seq": {
      const seq = new YAMLSeq();
      seq.flow = node.flow === true;
      let pending: string[] = [];
      for (const it of node.items) {
        if (it.disabled) {
          pending.push(...disabledLines(it, undefined, describe));
          continue;
        }
        const value = build(it.value, describe);
        applyComments(value, value, it.comments, pending);
        pending = [];
        seq.items.push(value);
      }
      const trailing = [...pending, ...(node.trailing ?? [])];
      if (trailing.length) {
        seq.flow = false;
        seq.comment = asComment(trailing);
      }
      return seq;
    }
  }
}

/**
 * The build file's text: `header` lines first (each written after `# `), then the model, formatted
 * as `kiln fmt` writes it. `file` names the output in parse errors (a bug of the importer if any).
 */
export function renderYaml(
  root: KMap,
  header: readonly string[],
  file: string,
  describe: (e: KEntry | KItem) => string,
): string {
  const doc = new Document();
  doc.contents = build(root, describe);
  if (header.length) doc.commentBefore = asComment(header.map((l) => ` ${l}`));
  const text = doc.toString(TEXT_OPTIONS);
  const src = parseYaml(text, file);
  return formatDocument(src.doc);
}

/** A plain YAML text of data (a variables file), formatted the same way. */
export function renderData(root: KMap, header: readonly string[], file: string): string {
  return renderYaml(root, header, file, (e) => e.disabled ?? "");
}
