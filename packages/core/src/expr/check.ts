/** Static checks and reference listing over parsed templates. No evaluation, no I/O. */
import { type Ast, children } from "./ast.js";
import type { ExprError } from "./errors.js";
import { arityError, undeclaredMember, unknownFunction, unknownRoot } from "./evaluate.js";
import { FUNCTIONS } from "./functions/index.js";
import type { Template } from "./parse.js";
import { declaredMembers, knownRoots, type Scope } from "./scope.js";

/** The member a node names statically: `x` in `root.x` or `root["x"]`. */
function staticMember(node: Ast): { root: string; member: string; end: number } | undefined {
  if (node.type === "member" && node.object.type === "name") {
    return { root: node.object.name, member: node.name, end: node.end };
  }
  if (
    node.type === "index" &&
    node.object.type === "name" &&
    node.index.type === "literal" &&
    typeof node.index.value === "string"
  ) {
    return { root: node.object.name, member: node.index.value, end: node.end };
  }
  return undefined;
}

const NONE: ReadonlySet<string> = new Set();

/**
 * Visit nodes in source order; `visit` returns false to skip a node's children. No recursion.
 * `bound` holds the names a `for` expression binds around the node (they are not roots).
 */
function walk(root: Ast, visit: (n: Ast, bound: ReadonlySet<string>) => boolean, outer = NONE): void {
  const stack: Array<[Ast, ReadonlySet<string>]> = [[root, outer]];
  while (stack.length > 0) {
    const [node, bound] = stack.pop() as [Ast, ReadonlySet<string>];
    if (!visit(node, bound)) continue;
    if (node.type === "for") {
      const inner = new Set(bound);
      inner.add(node.valueVar);
      if (node.keyVar !== undefined) inner.add(node.keyVar);
      const kids: Array<[Ast, ReadonlySet<string>]> = [[node.collection, bound]];
      if (node.key) kids.push([node.key, inner]);
      kids.push([node.value, inner]);
      if (node.cond) kids.push([node.cond, inner]);
      for (let i = kids.length - 1; i >= 0; i--) stack.push(kids[i] as [Ast, ReadonlySet<string>]);
      continue;
    }
    const kids = children(node);
    for (let i = kids.length - 1; i >= 0; i--) stack.push([kids[i] as Ast, bound]);
  }
}

/**
 * Find unknown roots, undeclared members of declared roots, unknown functions and calls with the
 * wrong number of arguments. Returns every problem, in source order.
 */
export function checkTemplate(
  t: Template,
  scope: Scope,
  extraRoots: ReadonlySet<string> = NONE,
): ExprError[] {
  const errors: ExprError[] = [];
  const roots = knownRoots(scope);
  for (const r of extraRoots) roots.add(r);
  for (const part of t) {
    if (part.kind !== "expr") continue;
    checkAst(part.ast, scope, roots, errors);
  }
  return errors.sort((a, b) => a.offset - b.offset);
}

/** The checks of checkTemplate on one expression; `roots` are the names known there. */
export function checkAst(ast: Ast, scope: Scope, roots: ReadonlySet<string>, errors: ExprError[]): void {
  walk(ast, (n, bound) => {
    if (n.type === "name") {
      if (!roots.has(n.name) && !bound.has(n.name))
        errors.push(unknownRoot(n.name, n, new Set([...roots, ...bound])));
      return false;
    }
    const sm = staticMember(n);
    if (sm !== undefined && bound.has(sm.root)) return true;
    if (sm !== undefined) {
      const obj = (n as { object: Ast }).object;
      if (!roots.has(sm.root)) {
        errors.push(unknownRoot(sm.root, obj, roots));
      } else {
        const declared = declaredMembers(scope, sm.root);
        if (declared !== undefined && !declared.has(sm.member)) {
          errors.push(undeclaredMember(sm.root, sm.member, { start: n.start, end: n.end }, declared));
        }
      }
      if (n.type === "index") walk(n.index, () => true);
      return false;
    }
    if (n.type === "call") {
      const def = FUNCTIONS.get(n.callee);
      if (def === undefined) errors.push(unknownFunction(n.callee, { start: n.start, end: n.calleeEnd }));
      else if (n.args.length < def.min || n.args.length > def.max) errors.push(arityError(n, def));
    }
    return true;
  });
}

export interface Reference {
  root: string;
  member?: string;
  /** Offset of the root name in the template string. */
  offset: number;
}

/** Every root (and statically known member) the template refers to, in source order. */
export function references(t: Template): Reference[] {
  const out: Reference[] = [];
  for (const part of t) {
    if (part.kind !== "expr") continue;
    walk(part.ast, (n, bound) => {
      if (n.type === "name") {
        if (!bound.has(n.name)) out.push({ root: n.name, offset: n.start });
        return false;
      }
      const sm = staticMember(n);
      if (sm !== undefined && bound.has(sm.root)) return true;
      if (sm !== undefined) {
        out.push({ root: sm.root, member: sm.member, offset: n.start });
        return false;
      }
      return true;
    });
  }
  return out.sort((a, b) => a.offset - b.offset);
}
