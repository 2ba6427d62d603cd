/**
 * The syntax tree of one `${{ … }}` expression. Every node carries `start`/`end`: 0-based offsets
 * into the whole template string (not into the expression), so errors point at the right place.
 */

export type BinaryOp = "*" | "/" | "%" | "+" | "-" | "<" | "<=" | ">" | ">=" | "==" | "!=" | "&&" | "||";
export type UnaryOp = "!" | "-";

interface Span {
  start: number;
  end: number;
}

export interface LiteralNode extends Span {
  type: "literal";
  value: string | number | boolean | null;
}
export interface ListNode extends Span {
  type: "list";
  items: Ast[];
}
export interface MapEntry {
  key: string;
  keyStart: number;
  keyEnd: number;
  value: Ast;
}
export interface MapNode extends Span {
  type: "map";
  entries: MapEntry[];
}
/** A bare name: a root such as `var`, `local`, `env`. */
export interface NameNode extends Span {
  type: "name";
  name: string;
}
/** `object.name` */
export interface MemberNode extends Span {
  type: "member";
  object: Ast;
  name: string;
  nameStart: number;
}
/** `object[index]` */
export interface IndexNode extends Span {
  type: "index";
  object: Ast;
  index: Ast;
}
/** `callee(args…)`; functions are not values, so the callee is always a name. */
export interface CallNode extends Span {
  type: "call";
  callee: string;
  calleeEnd: number;
  args: Ast[];
}
export interface UnaryNode extends Span {
  type: "unary";
  op: UnaryOp;
  operand: Ast;
}
export interface BinaryNode extends Span {
  type: "binary";
  op: BinaryOp;
  opStart: number;
  left: Ast;
  right: Ast;
}
/** `test ? consequent : alternate` */
export interface ConditionalNode extends Span {
  type: "conditional";
  test: Ast;
  consequent: Ast;
  alternate: Ast;
}

/**
 * `[for k, v in coll: value if cond]` (a list) and `{for k, v in coll: key => value if cond}` (a
 * map; `value...` groups values of equal keys into lists), as in HCL.
 */
export interface ForNode extends Span {
  type: "for";
  kind: "list" | "map";
  /** The key (index) variable, when two names are given. */
  keyVar?: string;
  valueVar: string;
  collection: Ast;
  /** For maps: the key expression. */
  key?: Ast;
  value: Ast;
  cond?: Ast;
  /** `{for …: k => v...}` */
  group: boolean;
}

/** `"qemu-system-${var.arch}"`: a double-quoted string with HCL interpolations in it. */
export interface TemplateNode extends Span {
  type: "template";
  parts: Array<string | Ast>;
}

export type Ast =
  | TemplateNode
  | ForNode
  | LiteralNode
  | ListNode
  | MapNode
  | NameNode
  | MemberNode
  | IndexNode
  | CallNode
  | UnaryNode
  | BinaryNode
  | ConditionalNode;

/** The direct children of a node, in source order. */
export function children(node: Ast): Ast[] {
  switch (node.type) {
    case "literal":
    case "name":
      return [];
    case "list":
      return node.items;
    case "map":
      return node.entries.map((e) => e.value);
    case "member":
      return [node.object];
    case "index":
      return [node.object, node.index];
    case "call":
      return node.args;
    case "unary":
      return [node.operand];
    case "binary":
      return [node.left, node.right];
    case "conditional":
      return [node.test, node.consequent, node.alternate];
    case "template":
      return node.parts.filter((p): p is Ast => typeof p !== "string");
    case "for":
      return [
        node.collection,
        ...(node.key ? [node.key] : []),
        node.value,
        ...(node.cond ? [node.cond] : []),
      ];
  }
}
