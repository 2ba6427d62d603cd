import { isDeepStrictEqual } from "node:util";
import {
  type Document,
  isAlias,
  isCollection,
  isMap,
  isNode,
  isPair,
  isScalar,
  type Node,
  parseDocument,
  Scalar,
  type ToStringOptions,
  type YAMLMap,
  type YAMLSeq,
} from "yaml";
import { fixAliasOrder, resolveAliases } from "./anchors.js";
import {
  commentLines,
  concatComments,
  isModeline,
  joinComment,
  stripLeadingBlank,
  stripTrailingBlank,
} from "./comments.js";
import { applyBuildFileOrder } from "./order.js";
import { keepScalarSourceForm } from "./source-form.js";

/** How canonical build files are written. */
export const FORMAT_OPTIONS: ToStringOptions = {
  indent: 2,
  indentSeq: true,
  lineWidth: 0,
  minContentWidth: 0,
  directives: false,
  flowCollectionPadding: false,
  // Never turn a double-quoted "a\nb" into a multi-line quoted scalar.
  doubleQuotedMinMultiLineLength: Number.MAX_SAFE_INTEGER,
};

/** Thrown when formatting would change the data of the file (a bug in the formatter, never the user's). */
export class FormatError extends Error {
  override name = "FormatError";
}

/**
 * Canonical text of a parsed build file: canonical key order, 2-space block style (flow collections
 * the user wrote stay flow), original scalar styles, comments kept with the keys they were written
 * above, one blank line between top-level sections, one newline at the end.
 *
 * The caller has parsed the text with `parseDocument` and rejected syntax errors. `doc` is not
 * modified. The data never changes: the result parses to a value deep-equal to `doc.toJS()`.
 */
export function formatDocument(doc: Document.Parsed | Document): string {
  const work = doc.clone();
  if (work.directives) work.directives.docEnd = false;
  keepScalarSourceForm(work);

  const targets = resolveAliases(work);
  const seqItems = new WeakSet<object>();
  normalizeComments(work, seqItems);
  extractHeader(work);

  const root = work.contents;
  if (isMap(root)) {
    applyBuildFileOrder(root, (map) => keepLeadingComment(map, root, seqItems));
  }
  fixAliasOrder(work, targets);
  normalizeSpacing(work);
  normalizeScalars(work.contents);

  const text = render(work);
  verify(doc, text);
  return text;
}

function render(doc: Document): string {
  if (doc.contents === null || doc.contents === undefined) {
    // A file with nothing but comments (or nothing at all).
    const lines = concatComments([""], commentLines(doc.commentBefore), commentLines(doc.comment));
    return lines.length === 0 ? "" : `${lines.map((line) => (line === "" ? "" : `#${line}`)).join("\n")}\n`;
  }
  return doc.toString(FORMAT_OPTIONS);
}

/** The formatter must never change data; check the result instead of trusting every code path. */
function verify(original: Document, text: string): void {
  const reparsed = parseDocument(text, original.options);
  if (reparsed.errors.length > 0) {
    throw new FormatError(`formatted text does not parse: ${reparsed.errors[0]?.message ?? ""}`);
  }
  if (!isDeepStrictEqual(reparsed.toJS(), original.toJS())) {
    throw new FormatError("formatting would change the data of the document");
  }
}

/* ------------------------------------------------------------------------------------------------ */
/* Comments                                                                                          */

/** The node whose `commentBefore`/`spaceBefore` sit above an item: a pair's key, or the item itself. */
function startNode(item: unknown): Node | undefined {
  if (isPair(item)) {
    if (isNode(item.key)) return item.key;
    // Keys made from plain values (documents built in code) cannot carry comments; wrap them.
    const key = new Scalar(item.key);
    item.key = key;
    return key;
  }
  return isNode(item) ? item : undefined;
}

/** The node holding the comment lines written after the last line of `node`'s block content. */
function trailingHost(node: unknown): Node | undefined {
  if (!isCollection(node) || node.flow) return undefined;
  if (node.comment) return node;
  const last = node.items[node.items.length - 1];
  return trailingHost(isPair(last) ? last.value : last);
}

/**
 * Normalises every comment (trailing whitespace, runs of blank lines) and re-attaches comments that
 * the parser glued to the end of a nested block although they were written directly above the next
 * key or item: the parser puts every comment line that follows a nested block into that block's
 * trailing comment. The part after the last blank line of such a comment, when no blank line
 * separates it from the next item, is moved to that item, so it moves with it.
 * Also records which maps are sequence items.
 */
function normalizeComments(doc: Document, seqItems: WeakSet<object>): void {
  const visit = (node: unknown): void => {
    if (isPair(node)) {
      visit(node.key);
      visit(node.value);
      return;
    }
    if (!isNode(node)) return;
    if (isCollection(node)) {
      const items = node.items as unknown[];
      if (!isMap(node)) for (const item of items) if (isCollection(item)) seqItems.add(item);
      if (!node.flow) {
        for (let i = 0; i + 1 < items.length; i++) {
          const current = items[i];
          const host = trailingHost(isPair(current) ? current.value : current);
          const next = startNode(items[i + 1]);
          if (host && next) splitTrailing(host, next);
        }
      }
      for (const item of items) visit(item);
    }
    normalizeNodeComments(node);
  };

  const root = doc.contents;
  if (isCollection(root) && !root.flow) {
    // Comment lines after the last blank line at the end of the file belong to the file, not to the
    // innermost block that happens to end there.
    const host = trailingHost(root);
    if (host && host !== root) {
      const lines = commentLines(host.comment);
      stripTrailingBlank(lines);
      const blank = lines.lastIndexOf("");
      if (blank !== -1) {
        host.comment = joinComment(lines.slice(0, blank));
        doc.comment = joinComment(concatComments([""], lines.slice(blank + 1), commentLines(doc.comment)));
      }
    }
  }
  visit(root);

  const before = commentLines(doc.commentBefore);
  stripLeadingBlank(before);
  stripTrailingBlank(before);
  doc.commentBefore = joinComment(before);
  const after = commentLines(doc.comment);
  stripLeadingBlank(after);
  stripTrailingBlank(after);
  doc.comment = joinComment(after);
}

function splitTrailing(host: Node, next: Node): void {
  const lines = commentLines(host.comment);
  if (stripTrailingBlank(lines)) {
    // A blank line separates the comment from the next item: it stays where it is.
    next.spaceBefore = true;
    host.comment = joinComment(lines);
    return;
  }
  const blank = lines.lastIndexOf("");
  if (blank === -1) return;
  host.comment = joinComment(lines.slice(0, blank));
  next.commentBefore = joinComment(
    concatComments([], lines.slice(blank + 1), commentLines(next.commentBefore)),
  );
  next.spaceBefore = true;
}

function normalizeNodeComments(node: Node): void {
  const before = commentLines(node.commentBefore);
  if (stripLeadingBlank(before)) node.spaceBefore = true;
  // One blank line between a comment and the key below it may stay.
  node.commentBefore = joinComment(before);
  const after = commentLines(node.comment);
  stripLeadingBlank(after);
  stripTrailingBlank(after);
  node.comment = joinComment(after);
}

/**
 * The leading comment of the file: the parser attaches comment lines at the top of the file to the
 * first key unless a blank line follows them. Lines up to the last blank line, and a
 * `yaml-language-server` modeline, belong to the file; the rest stays with the first key.
 */
function extractHeader(doc: Document): void {
  const root = doc.contents;
  if (!isCollection(root)) return;
  const first = startNode(root.items[0]);
  if (!first) return;
  const lines = concatComments([""], commentLines(root.commentBefore), commentLines(first.commentBefore));
  root.commentBefore = null;
  let split = lines.lastIndexOf("");
  for (let i = lines.length - 1; i > split; i--) {
    if (isModeline(lines[i] ?? "")) {
      split = i;
      break;
    }
  }
  const header = lines.slice(0, split + 1);
  stripTrailingBlank(header);
  first.commentBefore = joinComment(lines.slice(split + 1));
  doc.commentBefore = joinComment(concatComments([""], commentLines(doc.commentBefore), header));
}

/**
 * Before a map's keys move: a comment the parser attached to the map itself (written between
 * `parent:` and the first key) belongs to the first key and moves with it. Maps that are sequence
 * items keep theirs: it is written above the `-`.
 */
function keepLeadingComment(map: YAMLMap<unknown, unknown>, root: unknown, seqItems: WeakSet<object>): void {
  if (map === root || seqItems.has(map) || !map.commentBefore) return;
  const first = startNode(map.items[0]);
  if (!first) return;
  first.commentBefore = joinComment(
    concatComments([], commentLines(map.commentBefore), commentLines(first.commentBefore)),
  );
  map.commentBefore = null;
}

/* ------------------------------------------------------------------------------------------------ */
/* Blank lines and scalars                                                                           */

/**
 * Exactly one blank line between top-level sections; inside sections a single blank line between
 * items may stay, but never before the first item of a collection, before a value or in flow style.
 */
function normalizeSpacing(doc: Document): void {
  const visit = (node: unknown, inFlow: boolean): void => {
    if (isPair(node)) {
      visit(node.key, inFlow);
      if (isNode(node.value)) node.value.spaceBefore = false;
      visit(node.value, inFlow);
      return;
    }
    if (!isNode(node)) return;
    if (inFlow) node.spaceBefore = false;
    if (!isCollection(node)) return;
    const flow = inFlow || Boolean(node.flow);
    const items = node.items as unknown[];
    if (!flow) {
      // After keys moved, a key with a comment above it may now follow a block that ends in a
      // comment; without a blank line between them the parser would read both as one.
      for (let i = 1; i < items.length; i++) {
        const previous = items[i - 1];
        const start = startNode(items[i]);
        if (start?.commentBefore && trailingHost(isPair(previous) ? previous.value : previous)) {
          start.spaceBefore = true;
          // …and the comment must sit right above its key, or it is read as the block's.
          const lines = commentLines(start.commentBefore);
          stripTrailingBlank(lines);
          start.commentBefore = joinComment(lines);
        }
      }
    }
    if (!flow && node.comment) {
      // A block's last comment written right after a nested block that ends in a comment is read
      // back as part of the nested one: put it there now, so formatting twice gives the same text.
      const last = items[items.length - 1];
      const host = trailingHost(isPair(last) ? last.value : last);
      if (host) {
        host.comment = joinComment([...commentLines(host.comment), ...commentLines(node.comment)]);
        node.comment = null;
      }
    }
    const first = startNode(items[0]);
    if (first) first.spaceBefore = false;
    for (const item of items) visit(item, flow);
  };
  const root = doc.contents;
  hoistItemComments(root);
  if (isNode(root)) root.spaceBefore = false;
  visit(root, false);
  if (isMap(root) && !root.flow) {
    root.items.forEach((pair, index) => {
      const key = startNode(pair);
      if (key) key.spaceBefore = index > 0;
    });
  }
}

/**
 * A comment above the first key of a map that is a sequence item is written above its `-`, and the
 * parser reads it back as the map's comment (or, for a list in a list, the inner list's): keep it
 * there so the result is stable. Innermost first.
 */
function hoistItemComments(node: unknown): void {
  if (isPair(node)) {
    hoistItemComments(node.key);
    hoistItemComments(node.value);
    return;
  }
  if (!isCollection(node) || node.flow) return;
  for (const item of node.items) hoistItemComments(item);
  if (isMap(node)) return;
  for (const item of node.items) if (isCollection(item) && !item.flow) hoistFirstComment(item);
}

function hoistFirstComment(collection: YAMLMap<unknown, unknown> | YAMLSeq<unknown>): void {
  const first = startNode(collection.items[0]);
  if (!first?.commentBefore) return;
  collection.commentBefore = joinComment(
    concatComments([], commentLines(collection.commentBefore), commentLines(first.commentBefore)),
  );
  first.commentBefore = null;
}

/**
 * Scalars keep their style, except plain and single-quoted scalars whose value holds consecutive
 * line breaks: those can only be written with runs of blank lines, so they become double-quoted.
 */
function normalizeScalars(node: unknown): void {
  if (isPair(node)) {
    normalizeScalars(node.key);
    normalizeScalars(node.value);
  } else if (isCollection(node)) {
    for (const item of node.items) normalizeScalars(item);
  } else if (isScalar(node) && !isAlias(node)) {
    if (
      (node.type === Scalar.PLAIN || node.type === Scalar.QUOTE_SINGLE) &&
      typeof node.value === "string" &&
      node.value.includes("\n\n")
    ) {
      node.type = Scalar.QUOTE_DOUBLE;
    }
  }
}
