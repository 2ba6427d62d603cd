/** JSON with positions (jsonc-parser's tree), for the two JSON forms of Packer templates. */
import { type Node, type ParseError, parseTree, printParseErrorCode } from "jsonc-parser";
import { ImportError, type Position } from "../report.js";

export type JsonNode = Node;

export class JsonFile {
  private readonly lineStarts: number[] = [0];

  constructor(
    readonly text: string,
    readonly file: string,
  ) {
    for (let i = 0; i < text.length; i++) if (text[i] === "\n") this.lineStarts.push(i + 1);
  }

  parse(): JsonNode {
    const errors: ParseError[] = [];
    const root = parseTree(this.text, errors, { disallowComments: true, allowTrailingComma: false });
    const first = errors[0];
    if (first || !root) {
      const pos = this.pos(first?.offset ?? 0);
      throw new ImportError(
        `${pos.file}:${pos.line}:${pos.column}: not valid JSON: ${first ? printParseErrorCode(first.error) : "empty file"}`,
        pos,
      );
    }
    if (root.type !== "object") {
      const pos = this.pos(root.offset);
      throw new ImportError(`${pos.file}:${pos.line}:${pos.column}: a template is a JSON object`, pos);
    }
    return root;
  }

  pos(offset: number): Position {
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.lineStarts[mid] as number) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { file: this.file, line: lo + 1, column: offset - (this.lineStarts[lo] as number) + 1 };
  }

  /** The node's text, lines re-indented as if it started at column 1. */
  raw(node: JsonNode): string {
    const start = node.parent?.type === "property" ? node.parent.offset : node.offset;
    const end = node.offset + node.length;
    const lineStart = this.text.lastIndexOf("\n", start - 1) + 1;
    const indent = this.text.slice(lineStart, start);
    const text = this.text.slice(start, end);
    if (!/^[ \t]*$/.test(indent)) return text;
    return text
      .split("\n")
      .map((l, i) => (i === 0 ? l : l.startsWith(indent) ? l.slice(indent.length) : l))
      .join("\n");
  }

  fail(node: JsonNode, message: string): ImportError {
    const pos = this.pos(node.offset);
    return new ImportError(`${pos.file}:${pos.line}:${pos.column}: ${message}`, pos);
  }
}

/** An object node's properties: key, the key's node, the value node. */
export function properties(node: JsonNode): Array<{ key: string; keyNode: JsonNode; value: JsonNode }> {
  if (node.type !== "object") return [];
  const out: Array<{ key: string; keyNode: JsonNode; value: JsonNode }> = [];
  for (const p of node.children ?? []) {
    const [k, v] = p.children ?? [];
    if (k && v) out.push({ key: String(k.value), keyNode: k, value: v });
  }
  return out;
}

/** The node as plain data. */
export function plain(node: JsonNode): unknown {
  switch (node.type) {
    case "object": {
      const out: Record<string, unknown> = {};
      for (const p of properties(node)) out[p.key] = plain(p.value);
      return out;
    }
    case "array":
      return (node.children ?? []).map(plain);
    default:
      return node.value;
  }
}
