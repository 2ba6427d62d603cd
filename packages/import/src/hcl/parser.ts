/**
 * The HCL parser: web-tree-sitter with the tree-sitter-hcl grammar (its .wasm, shipped in the
 * grammar's npm package). Loaded once, on first use, so nothing of it is read by commands that do
 * not import. A tree with ERROR or MISSING nodes is refused with the position of the first one.
 */
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import type { Language, Node, Parser, Tree } from "web-tree-sitter";
import { ImportError, type Position } from "../report.js";

let loading: Promise<Parser> | undefined;

async function load(): Promise<Parser> {
  const ts = await import("web-tree-sitter");
  await ts.Parser.init();
  // Shipped in dist/grammar by the build (scripts/copy-grammar.mjs); from the sources (tests),
  // the grammar package itself.
  const shipped = fileURLToPath(new URL("../grammar/tree-sitter-hcl.wasm", import.meta.url));
  const wasm = existsSync(shipped)
    ? readFileSync(shipped)
    : readFileSync(
        createRequire(import.meta.url).resolve("@tree-sitter-grammars/tree-sitter-hcl/tree-sitter-hcl.wasm"),
      );
  const language: Language = await ts.Language.load(wasm);
  const parser = new ts.Parser();
  parser.setLanguage(language);
  return parser;
}

/** The parser, loaded on first use. */
export function hclParser(): Promise<Parser> {
  loading ??= load();
  return loading;
}

/** Line and column (1-based, UTF-16 code units as editors count them) of a node's start. */
export function positionOf(file: string, node: Node): Position {
  return { file, line: node.startPosition.row + 1, column: node.startPosition.column + 1 };
}

/** The first ERROR or MISSING node of the tree, depth first, in source order. */
function firstBroken(node: Node): Node | undefined {
  if (node.isError || node.isMissing) return node;
  if (!node.hasError) return undefined;
  for (const child of node.children) {
    const broken = firstBroken(child);
    if (broken) return broken;
  }
  return node.hasError ? node : undefined;
}

/** Parse HCL text; throws an ImportError at the first syntax error. The caller deletes the tree. */
export async function parseHcl(text: string, file: string): Promise<Tree> {
  const parser = await hclParser();
  const tree = parser.parse(text);
  if (!tree) throw new ImportError(`${file}: the HCL parser gave no tree`, { file, line: 1, column: 1 });
  const broken = firstBroken(tree.rootNode);
  if (broken) {
    const pos = positionOf(file, broken);
    tree.delete();
    const what = broken.isMissing
      ? `a missing ${JSON.stringify(broken.type)}`
      : `text that is not HCL${snippet(broken.text)}`;
    throw new ImportError(`${pos.file}:${pos.line}:${pos.column}: syntax error: ${what}`, pos, {
      hint: "Fix the template so that `packer validate -syntax-only` accepts it, then import again.",
    });
  }
  return tree;
}

function snippet(text: string): string {
  const first = text.split("\n")[0]?.trim() ?? "";
  if (first === "") return "";
  return ` (${JSON.stringify(first.length > 40 ? `${first.slice(0, 37)}...` : first)})`;
}
