/**
 * Evaluating parsed templates against a scope. No JavaScript is ever evaluated: the tree is
 * walked, names are looked up in `scope.values` (own properties of plain objects and arrays only)
 * and calls go to the fixed function table.
 */
import type { Ast, BinaryNode, CallNode, ForNode } from "./ast.js";
import { type Deferred, holdsDeferred, isDeferred } from "./deferred.js";
import { closestName, ExprError, type ExprErrorCode, listNames } from "./errors.js";
import { Args, arityHint, type CallContext, FnError, FUNCTIONS } from "./functions/index.js";
import { MAX_COLLECTION_SIZE, MAX_DEPTH, MAX_STRING_LENGTH, MAX_TEMPLATEFILE_DEPTH } from "./limits.js";
import { parseTemplate, type Template } from "./parse.js";
import { isPackerTemplate, type PkrNode, parsePackerTemplate } from "./pkrtpl.js";
import { DEFERRED, declaredMembers, knownRoots, type Scope } from "./scope.js";
import {
  checkLength,
  deepEqual,
  FORBIDDEN_KEYS,
  mapKeys,
  ownValue,
  toText,
  typeOf,
  ValueError,
} from "./values.js";

/** Thrown through the evaluator when a deferred root is touched; never escapes this module. */
class DeferredSignal {}
const DEFERRED_SIGNAL = new DeferredSignal();

interface Ctx {
  scope: Scope;
  /** Extra bare roots (templatefile vars); they shadow the scope's roots. */
  extra: Record<string, unknown> | undefined;
  templateDepth: number;
  /** Shared by nested templatefile renders: how deep the walk is right now. */
  walk: { depth: number };
  /** Set once a sensitive value has been read: the result is sensitive. */
  taint: { hit: boolean };
}

const newCtx = (scope: Scope): Ctx => ({
  scope,
  extra: undefined,
  templateDepth: 0,
  walk: { depth: 0 },
  taint: { hit: false },
});

/** A result and whether it was computed from a sensitive value. */
export interface Tracked {
  value: unknown;
  sensitive: boolean;
}

/**
 * Parsed trees are at most MAX_DEPTH deep, and templatefile() nests at most
 * MAX_TEMPLATEFILE_DEPTH renders; this guards trees built by hand, which the types allow.
 */
const MAX_WALK_DEPTH = MAX_DEPTH * (MAX_TEMPLATEFILE_DEPTH + 2);

/**
 * Evaluate a template. A template that is exactly one expression gives its raw value; otherwise
 * the parts are joined as text. Returns DEFERRED when a root only known at build time is used.
 * Throws ExprError.
 */
export function evaluateTemplate(t: Template, scope: Scope): unknown {
  return evaluateTracked(t, scope).value;
}

/**
 * `evaluateTemplate`, also telling whether the result was computed from a sensitive value (one
 * listed in `scope.sensitive`). Conservative, as Terraform: any read of a sensitive value marks
 * the whole result, whatever function, operator or condition it went through.
 */
export function evaluateTracked(t: Template, scope: Scope): Tracked {
  const ctx = newCtx(scope);
  try {
    return { value: render(t, ctx), sensitive: ctx.taint.hit };
  } catch (e) {
    if (e instanceof DeferredSignal) return { value: DEFERRED, sensitive: ctx.taint.hit };
    throw e;
  }
}

/** Evaluate one parsed expression (e.g. from parseExpression) to its raw value, or DEFERRED. */
export function evaluateExpression(ast: Ast, scope: Scope): unknown {
  try {
    return rawResult(ast, evalNode(ast, newCtx(scope)));
  } catch (e) {
    if (e instanceof DeferredSignal) return DEFERRED;
    throw e;
  }
}

/** A value handed back as is: only the value types of the language, strings within the limit. */
function rawResult(node: Ast, v: unknown): unknown {
  if (typeof v === "string") guard(node, () => checkLength(v));
  if (typeOf(v) === "unsupported") {
    throw err(
      "KILN_EXPR_TYPE",
      node,
      `The expression gives ${describeType(v)}, not a string, number, bool, list or map.`,
    );
  }
  return v === undefined ? null : v;
}

function render(t: Template, ctx: Ctx): unknown {
  const only = t[0];
  if (t.length === 1 && only !== undefined && only.kind === "expr") {
    return rawResult(only.ast, evalNode(only.ast, ctx));
  }
  let out = "";
  for (const part of t) {
    if (part.kind === "text") out += part.value;
    else {
      const v = evalNode(part.ast, ctx);
      out += guard(part.ast, () => toText(v));
    }
    if (out.length > MAX_STRING_LENGTH) {
      throw new ExprError(
        "KILN_EXPR_EVAL",
        `Result is longer than the limit of ${MAX_STRING_LENGTH} characters.`,
        {
          offset: part.start,
          length: part.end - part.start,
        },
      );
    }
  }
  return out;
}

function err(
  code: ExprErrorCode,
  node: { start: number; end: number },
  message: string,
  hint?: string,
): ExprError {
  return new ExprError(code, message, {
    offset: node.start,
    length: node.end - node.start,
    ...(hint ? { hint } : {}),
  });
}

/** Run `f`, turning helper errors into ExprErrors at `node`. */
function guard<T>(node: Ast, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof ValueError) {
      throw err(e.kind === "type" ? "KILN_EXPR_TYPE" : "KILN_EXPR_EVAL", node, e.message, e.hint);
    }
    throw e;
  }
}

/** A readable name for the value a node denotes: `var.x`, `local.list[0]`, or `value`. */
export function pathOf(node: Ast): string {
  switch (node.type) {
    case "name":
      return node.name;
    case "member":
      return `${pathOf(node.object)}.${node.name}`;
    case "index":
      if (node.index.type === "literal") return `${pathOf(node.object)}[${JSON.stringify(node.index.value)}]`;
      return `${pathOf(node.object)}[…]`;
    default:
      return "value";
  }
}

function evalNode(node: Ast, ctx: Ctx): unknown {
  if (ctx.walk.depth >= MAX_WALK_DEPTH) {
    throw err("KILN_EXPR_EVAL", node, `Expression is nested more than ${MAX_WALK_DEPTH} levels deep.`);
  }
  ctx.walk.depth++;
  try {
    return evalInner(node, ctx);
  } finally {
    ctx.walk.depth--;
  }
}

function evalInner(node: Ast, ctx: Ctx): unknown {
  switch (node.type) {
    case "literal":
      return node.value;
    case "list": {
      if (node.items.length > MAX_COLLECTION_SIZE) {
        throw err("KILN_EXPR_EVAL", node, `List has more than ${MAX_COLLECTION_SIZE} items.`);
      }
      return node.items.map((item) => evalNode(item, ctx));
    }
    case "map": {
      const out: Record<string, unknown> = {};
      for (const e of node.entries) {
        if (FORBIDDEN_KEYS.has(e.key)) {
          throw err(
            "KILN_EXPR_EVAL",
            { start: e.keyStart, end: e.keyEnd },
            `"${e.key}" cannot be used as a map key.`,
          );
        }
        out[e.key] = evalNode(e.value, ctx);
      }
      return out;
    }
    case "name": {
      // A whole root used as a value: sensitive when any of its members is.
      const v = lookupRoot(node.name, node, ctx);
      if (!ownsName(ctx.extra, node.name) && (ctx.scope.sensitive?.[node.name]?.size ?? 0) > 0)
        ctx.taint.hit = true;
      return settle(v, node, ctx);
    }
    case "member": {
      const obj = objectOf(node.object, ctx);
      const v = getMember(obj, node.name, node.object, { start: node.nameStart, end: node.end }, ctx);
      markMember(node.object, node.name, ctx);
      return settle(v, node, ctx);
    }
    case "index": {
      const obj = objectOf(node.object, ctx);
      const key = evalNode(node.index, ctx);
      if (typeof key === "string") markMember(node.object, key, ctx);
      if (Array.isArray(obj)) {
        if (typeof key !== "number" || !Number.isInteger(key)) {
          throw err(
            "KILN_EXPR_TYPE",
            node.index,
            `A list index must be a whole number, got ${describeType(key)}.`,
          );
        }
        if (key < 0 || key >= obj.length) {
          throw err(
            "KILN_EXPR_EVAL",
            node.index,
            `Index ${key} is out of range for ${pathOf(node.object)}, a list of ${obj.length} item(s).`,
          );
        }
        const v = ownValue(obj, String(key));
        return settle(v.value === undefined ? null : v.value, node, ctx);
      }
      if (typeOf(obj) !== "map") {
        throw err(
          "KILN_EXPR_TYPE",
          node,
          `Cannot index ${pathOf(node.object)}, which is ${describeType(obj)}.`,
          "Only lists and maps can be indexed.",
        );
      }
      if (typeof key !== "string") {
        throw err("KILN_EXPR_TYPE", node.index, `A map key must be a string, got ${describeType(key)}.`);
      }
      return settle(getMember(obj, key, node.object, node.index, ctx), node, ctx);
    }
    case "call":
      return call(node, ctx);
    case "for":
      return forExpr(node, ctx);
    case "template": {
      let out = "";
      for (const part of node.parts) {
        out += typeof part === "string" ? part : guard(part, () => toText(evalNode(part, ctx)));
        if (out.length > MAX_STRING_LENGTH)
          throw err(
            "KILN_EXPR_EVAL",
            node,
            `Result is longer than the limit of ${MAX_STRING_LENGTH} characters.`,
          );
      }
      return out;
    }
    case "unary": {
      const v = evalNode(node.operand, ctx);
      if (node.op === "!") {
        if (typeof v !== "boolean")
          throw err("KILN_EXPR_TYPE", node.operand, `Operator "!" needs a bool, got ${describeType(v)}.`);
        return !v;
      }
      if (typeof v !== "number")
        throw err("KILN_EXPR_TYPE", node.operand, `Operator "-" needs a number, got ${describeType(v)}.`);
      return v === 0 ? 0 : -v;
    }
    case "binary":
      return binary(node, ctx);
    case "conditional": {
      const test = evalNode(node.test, ctx);
      if (typeof test !== "boolean") {
        throw err(
          "KILN_EXPR_TYPE",
          node.test,
          `The condition before "?" must be a bool, got ${describeType(test)}.`,
        );
      }
      return evalNode(test ? node.consequent : node.alternate, ctx);
    }
  }
}

/** `[for …]` / `{for …}`: the collection's items in order (a map's keys sorted), bound as extra roots. */
function forExpr(node: ForNode, ctx: Ctx): unknown {
  const coll = evalNode(node.collection, ctx);
  let pairs: Array<[unknown, unknown]>;
  if (Array.isArray(coll)) pairs = coll.map((v, i) => [i, v === undefined ? null : v]);
  else if (typeOf(coll) === "map") {
    const m = coll as Record<string, unknown>;
    pairs = mapKeys(m)
      .sort()
      .map((k) => [k, ownValue(m, k).value ?? null]);
  } else {
    throw err(
      "KILN_EXPR_TYPE",
      node.collection,
      `A \`for\` expression iterates over a list or a map, got ${describeType(coll)}.`,
    );
  }
  const list: unknown[] = [];
  const map: Record<string, unknown> = {};
  let size = 0;
  for (const [k, v] of pairs) {
    const extra: Record<string, unknown> = { ...(ctx.extra ?? {}) };
    extra[node.valueVar] = v;
    if (node.keyVar !== undefined) extra[node.keyVar] = k;
    const inner: Ctx = { ...ctx, extra };
    if (node.cond) {
      const c = evalNode(node.cond, inner);
      if (typeof c !== "boolean")
        throw err(
          "KILN_EXPR_TYPE",
          node.cond,
          `The \`if\` of a \`for\` must be a bool, got ${describeType(c)}.`,
        );
      if (!c) continue;
    }
    if (++size > MAX_COLLECTION_SIZE)
      throw err("KILN_EXPR_EVAL", node, `The result has more than ${MAX_COLLECTION_SIZE} items.`);
    if (node.kind === "list") {
      list.push(evalNode(node.value, inner));
      continue;
    }
    const keyNode = node.key as Ast;
    const key = evalNode(keyNode, inner);
    const t = typeOf(key);
    if (t !== "string" && t !== "number" && t !== "bool")
      throw err("KILN_EXPR_TYPE", keyNode, `A map key must be a string, got ${describeType(key)}.`);
    const ks = guard(keyNode, () => toText(key));
    if (FORBIDDEN_KEYS.has(ks)) throw err("KILN_EXPR_EVAL", keyNode, `"${ks}" cannot be used as a map key.`);
    const value = evalNode(node.value, inner);
    if (node.group) {
      const prev = ownValue(map, ks);
      if (prev.found) (prev.value as unknown[]).push(value);
      else map[ks] = [value];
    } else {
      if (ownValue(map, ks).found)
        throw err(
          "KILN_EXPR_EVAL",
          keyNode,
          `Two items give the key "${ks}".`,
          "Make the keys unique, or group the values of equal keys into lists with `=> value...`.",
        );
      map[ks] = value;
    }
  }
  return node.kind === "list" ? list : map;
}

const ownsName = (extra: Record<string, unknown> | undefined, name: string): boolean =>
  extra !== undefined && Object.hasOwn(extra, name);

/** The object of `x.m` / `x[k]`: a bare root is looked up without counting as a read of all of it. */
function objectOf(node: Ast, ctx: Ctx): unknown {
  if (node.type !== "name") return evalNode(node, ctx);
  return lookupRoot(node.name, node, ctx);
}

/** `root.member` read: mark the result sensitive when that member is. */
function markMember(objNode: Ast, member: string, ctx: Ctx): void {
  if (objNode.type !== "name" || ownsName(ctx.extra, objNode.name)) return;
  if (ctx.scope.sensitive?.[objNode.name]?.has(member)) ctx.taint.hit = true;
}

/**
 * A value read from the scope that is (or holds) a build-time marker: at load, the expression
 * waits for the build too; at build time (`scope.resolveDeferred`), the marker is evaluated.
 */
function settle(v: unknown, node: Ast, ctx: Ctx): unknown {
  if (!holdsDeferred(v)) return v;
  if (!ctx.scope.resolveDeferred) throw DEFERRED_SIGNAL;
  const resolve = (x: unknown, depth: number): unknown => {
    if (depth > MAX_DEPTH)
      throw err("KILN_EXPR_EVAL", node, `Value is nested more than ${MAX_DEPTH} levels deep.`);
    if (isDeferred(x)) return resolveMarker(x, node, ctx);
    if (!holdsDeferred(x)) return x;
    if (Array.isArray(x)) return x.map((y) => resolve(y, depth + 1));
    const out: Record<string, unknown> = {};
    for (const k of mapKeys(x as Record<string, unknown>))
      out[k] = resolve(ownValue(x as object, k).value, depth + 1);
    return out;
  };
  return resolve(v, 0);
}

function resolveMarker(d: Deferred, node: Ast, ctx: Ctx): unknown {
  if (d.sensitive) ctx.taint.hit = true;
  try {
    return render(d.template, { ...ctx, extra: undefined });
  } catch (e) {
    if (e instanceof ExprError) {
      throw err(e.code as ExprErrorCode, node, `In ${JSON.stringify(d.source)}: ${e.message}`, e.hint);
    }
    throw e;
  }
}

function describeType(v: unknown): string {
  const t = typeOf(v);
  return t === "null" ? "null" : t === "unsupported" ? "an unsupported value" : `a ${t}`;
}

function lookupRoot(name: string, node: Ast, ctx: Ctx): unknown {
  if (!FORBIDDEN_KEYS.has(name)) {
    if (ctx.extra !== undefined) {
      const x = ownValue(ctx.extra, name);
      if (x.found) return x.value === undefined ? null : x.value;
    }
    const v = ownValue(ctx.scope.values, name);
    if (v.found) return v.value === undefined ? null : v.value;
    if (ctx.scope.deferred.has(name)) throw DEFERRED_SIGNAL;
    if (declaredMembers(ctx.scope, name) !== undefined) {
      throw err("KILN_EXPR_EVAL", node, `"${name}" has no value yet.`);
    }
  }
  throw unknownRoot(name, node, knownRoots(ctx.scope, ctx.extra));
}

export function unknownRoot(
  name: string,
  node: { start: number; end: number },
  roots: ReadonlySet<string>,
): ExprError {
  const close = closestName(name, roots);
  const hint =
    subtractionHint(name, name, roots) ??
    (close !== undefined
      ? `Did you mean "${close}"?`
      : roots.size > 0
        ? `Known names: ${listNames(roots)}.`
        : undefined);
  return err("KILN_EXPR_UNKNOWN_NAME", node, `Unknown name "${name}".`, hint);
}

export function undeclaredMember(
  root: string,
  name: string,
  node: { start: number; end: number },
  declared: ReadonlySet<string>,
): ExprError {
  const close = closestName(name, declared);
  const hint =
    subtractionHint(name, `${root}.${name}`, declared) ??
    (close !== undefined
      ? `Did you mean "${root}.${close}"?`
      : declared.size > 0
        ? `Declared: ${listNames([...declared].map((d) => `${root}.${d}`))}.`
        : `Nothing is declared under "${root}".`);
  return err("KILN_EXPR_UNKNOWN_NAME", node, `"${root}.${name}" is not declared.`, hint);
}

/** `var.n-1` reads as the name `n-1`; when `n` exists, say how to subtract. */
function subtractionHint(name: string, written: string, known: ReadonlySet<string>): string | undefined {
  const dash = name.indexOf("-");
  if (dash < 0 || !known.has(name.slice(0, dash))) return undefined;
  const cut = written.length - name.length + dash;
  return `Names may contain "-"; to subtract, put spaces around it: ${written.slice(0, cut)} - ${written.slice(cut + 1)}.`;
}

function getMember(
  obj: unknown,
  key: string,
  objNode: Ast,
  keyNode: { start: number; end: number },
  ctx: Ctx,
): unknown {
  const where = { start: objNode.start, end: keyNode.end };
  // Declared members of a root (var.x, local.x): a typo is an unknown name even without a value.
  if (objNode.type === "name" && !(ctx.extra && Object.hasOwn(ctx.extra, objNode.name))) {
    const declared = declaredMembers(ctx.scope, objNode.name);
    if (declared !== undefined && !declared.has(key))
      throw undeclaredMember(objNode.name, key, where, declared);
  }
  if (FORBIDDEN_KEYS.has(key)) {
    throw err("KILN_EXPR_EVAL", where, `"${key}" cannot be read in an expression.`);
  }
  const t = typeOf(obj);
  if (t === "list") {
    throw err(
      "KILN_EXPR_TYPE",
      where,
      `${pathOf(objNode)} is a list; "${key}" is not an index.`,
      "Index lists with a number: list[0].",
    );
  }
  if (t !== "map") {
    throw err(
      "KILN_EXPR_TYPE",
      where,
      `Cannot read "${key}" of ${pathOf(objNode)}, which is ${describeType(obj)}.`,
    );
  }
  const v = ownValue(obj as object, key);
  if (v.found) return v.value === undefined ? null : v.value;
  if (objNode.type === "name" && declaredMembers(ctx.scope, objNode.name) !== undefined) {
    throw err("KILN_EXPR_EVAL", where, `"${objNode.name}.${key}" has no value.`);
  }
  const close = closestName(key, mapKeys(obj as Record<string, unknown>));
  if (objNode.type === "name" && objNode.name === "env" && !ownsName(ctx.extra, "env")) {
    throw err(
      "KILN_EXPR_EVAL",
      where,
      `The environment variable ${key} is not set.`,
      close !== undefined
        ? `Did you mean "env.${close}"?`
        : `Set it, or write env("${key}"), which gives "" for an unset variable (as Packer's env()).`,
    );
  }
  throw err(
    "KILN_EXPR_EVAL",
    where,
    `${pathOf(objNode)} has no key "${key}".`,
    close !== undefined
      ? `Did you mean "${pathOf(objNode)}.${close}"?`
      : `Use lookup(${pathOf(objNode)}, "${key}", default) for a key that may be missing.`,
  );
}

/** A chain of binary operators (its left spine) is folded in a loop, so a long flat sum needs no deep recursion. */
function binary(node: BinaryNode, ctx: Ctx): unknown {
  const spine: BinaryNode[] = [];
  let n: Ast = node;
  while (n.type === "binary") {
    spine.push(n);
    n = n.left;
  }
  let acc = evalNode(n, ctx);
  for (let i = spine.length - 1; i >= 0; i--) acc = applyBinary(spine[i] as BinaryNode, acc, ctx);
  return acc;
}

function applyBinary(node: BinaryNode, left: unknown, ctx: Ctx): unknown {
  const op = node.op;
  if (op === "&&" || op === "||") {
    if (typeof left !== "boolean")
      throw err("KILN_EXPR_TYPE", node.left, `Operator "${op}" needs bools, got ${describeType(left)}.`);
    if (op === "&&" ? !left : left) return left;
    const right = evalNode(node.right, ctx);
    if (typeof right !== "boolean")
      throw err("KILN_EXPR_TYPE", node.right, `Operator "${op}" needs bools, got ${describeType(right)}.`);
    return right;
  }
  const right = evalNode(node.right, ctx);
  if (op === "==" || op === "!=") {
    const eq = guard(node, () => deepEqual(left, right));
    return op === "==" ? eq : !eq;
  }
  if (op === "+" && typeof left === "string" && typeof right === "string") {
    const s = left + right;
    if (s.length > MAX_STRING_LENGTH)
      throw err(
        "KILN_EXPR_EVAL",
        node,
        `Result is longer than the limit of ${MAX_STRING_LENGTH} characters.`,
      );
    return s;
  }
  if (op === "<" || op === "<=" || op === ">" || op === ">=") {
    const bothNum = typeof left === "number" && typeof right === "number";
    const bothStr = typeof left === "string" && typeof right === "string";
    if (!bothNum && !bothStr) {
      throw err(
        "KILN_EXPR_TYPE",
        node,
        `Operator "${op}" compares two numbers or two strings, got ${describeType(left)} and ${describeType(right)}.`,
      );
    }
    const l = left as number | string;
    const r = right as number | string;
    return op === "<" ? l < r : op === "<=" ? l <= r : op === ">" ? l > r : l >= r;
  }
  if (typeof left !== "number" || typeof right !== "number") {
    const bad = typeof left !== "number" ? node.left : node.right;
    throw err(
      "KILN_EXPR_TYPE",
      op === "+" ? node : bad,
      op === "+"
        ? `Operator "+" adds two numbers or joins two strings, got ${describeType(left)} and ${describeType(right)}.`
        : `Operator "${op}" needs numbers, got ${describeType(typeof left !== "number" ? left : right)}.`,
      op === "+" ? "Convert with tostring() or tonumber(), or build the string with format()." : undefined,
    );
  }
  let v: number;
  switch (op) {
    case "+":
      v = left + right;
      break;
    case "-":
      v = left - right;
      break;
    case "*":
      v = left * right;
      break;
    case "/":
      if (right === 0) throw err("KILN_EXPR_EVAL", node.right, "Division by zero.");
      v = left / right;
      break;
    case "%":
      if (right === 0) throw err("KILN_EXPR_EVAL", node.right, "Remainder of division by zero.");
      v = left % right;
      break;
  }
  if (!Number.isFinite(v)) throw err("KILN_EXPR_EVAL", node, "The result is too large a number.");
  return v === 0 ? 0 : v;
}

function call(node: CallNode, ctx: Ctx): unknown {
  const def = FUNCTIONS.get(node.callee);
  const calleeNode = { start: node.start, end: node.calleeEnd };
  if (def === undefined) throw unknownFunction(node.callee, calleeNode);
  if (node.args.length < def.min || node.args.length > def.max) throw arityError(node, def);
  if (node.callee === "can") {
    try {
      evalNode(node.args[0] as Ast, ctx);
      return true;
    } catch (e) {
      if (e instanceof ExprError) return false;
      throw e;
    }
  }
  if (node.callee === "try") {
    // The first argument that evaluates without error (a build-time value defers the whole call).
    let last: unknown;
    for (const a of node.args) {
      try {
        return evalNode(a, ctx);
      } catch (e) {
        if (!(e instanceof ExprError)) throw e;
        last = e;
      }
    }
    const e = last as ExprError;
    throw err(
      "KILN_EXPR_EVAL",
      node,
      `try(): no argument evaluates without an error; the last: ${e.message}`,
      "Add a last argument that always works, e.g. a default value.",
    );
  }
  if (node.callee === "env") {
    // env("X"): the environment variable, or "" when it is not set (as Packer's env()).
    const name = evalNode(node.args[0] as Ast, ctx);
    if (typeof name !== "string")
      throw err(
        "KILN_EXPR_TYPE",
        node.args[0] as Ast,
        `env() argument 1 must be a string, got ${describeType(name)}.`,
      );
    if (ctx.scope.sensitive?.env?.has(name)) ctx.taint.hit = true;
    const envRoot = ownValue(ctx.scope.values, "env");
    if (!envRoot.found || typeOf(envRoot.value) !== "map") return "";
    const v = ownValue(envRoot.value as object, name);
    return typeof v.value === "string" ? v.value : "";
  }
  const values = node.args.map((a) => evalNode(a, ctx));
  const args = new Args(node.callee, values);
  const callCtx: CallContext = {
    baseDir: ctx.scope.baseDir,
    now: ctx.scope.now ?? (() => new Date()),
    renderFile: (text, vars, file) => renderFile(text, vars, file, node, ctx),
  };
  let result: unknown;
  try {
    result = def.call(args, callCtx);
  } catch (e) {
    if (e instanceof FnError) {
      const at = e.arg !== undefined ? (node.args[e.arg] ?? node) : node;
      throw err(e.kind === "type" ? "KILN_EXPR_TYPE" : "KILN_EXPR_EVAL", at, e.message, e.hint);
    }
    if (e instanceof ValueError) {
      throw err(
        e.kind === "type" ? "KILN_EXPR_TYPE" : "KILN_EXPR_EVAL",
        node,
        `${node.callee}(): ${e.message}`,
        e.hint,
      );
    }
    throw e;
  }
  if (typeof result === "string" && result.length > MAX_STRING_LENGTH) {
    throw err(
      "KILN_EXPR_EVAL",
      node,
      `${node.callee}() result is longer than the limit of ${MAX_STRING_LENGTH} characters.`,
    );
  }
  if (typeof result === "number" && !Number.isFinite(result)) {
    throw err("KILN_EXPR_EVAL", node, `${node.callee}() result is not a finite number.`);
  }
  return result;
}

export function unknownFunction(name: string, node: { start: number; end: number }): ExprError {
  const close = closestName(name, FUNCTIONS.keys());
  return err(
    "KILN_EXPR_UNKNOWN_FUNCTION",
    node,
    `Unknown function "${name}()".`,
    close !== undefined ? `Did you mean "${close}()"?` : `Functions: ${listNames(FUNCTIONS.keys(), 50)}.`,
  );
}

export function arityError(node: CallNode, def: { params: string; min: number; max: number }): ExprError {
  const n = node.args.length;
  return err(
    "KILN_EXPR_TYPE",
    node,
    `${node.callee}() was given ${n} argument${n === 1 ? "" : "s"}.`,
    arityHint(node.callee, def),
  );
}

function renderFile(
  text: string,
  vars: Record<string, unknown>,
  file: string,
  node: CallNode,
  ctx: Ctx,
): string {
  if (ctx.templateDepth >= MAX_TEMPLATEFILE_DEPTH) {
    throw new FnError("eval", `templatefile(): templates nest more than ${MAX_TEMPLATEFILE_DEPTH} deep.`);
  }
  const extra: Record<string, unknown> = {};
  for (const k of mapKeys(vars)) extra[k] = ownValue(vars, k).value;
  let value: unknown;
  const inner: Ctx = {
    scope: ctx.scope,
    extra,
    templateDepth: ctx.templateDepth + 1,
    walk: ctx.walk,
    taint: ctx.taint,
  };
  try {
    value = isPackerTemplate(file)
      ? renderPacker(parsePackerTemplate(text), inner, { size: 0 })
      : render(parseTemplate(text), inner);
  } catch (e) {
    if (e instanceof ExprError) {
      const before = text.slice(0, e.offset);
      const line = before.split("\n").length;
      const column = e.offset - before.lastIndexOf("\n");
      throw new ExprError(e.code as ExprErrorCode, `In ${file}:${line}:${column}: ${e.message}`, {
        offset: node.start,
        length: node.end - node.start,
        cause: e,
        ...(e.hint !== undefined ? { hint: e.hint } : {}),
      });
    }
    throw e;
  }
  try {
    return typeof value === "string" ? value : toText(value);
  } catch (e) {
    if (e instanceof ValueError) throw new FnError(e.kind, `templatefile(): ${e.message}`);
    throw e;
  }
}

/** Render a Packer template file's tree (pkrtpl.ts) with `ctx` (its vars are the extra roots). */
function renderPacker(nodes: PkrNode[], ctx: Ctx, out: { size: number }): string {
  let text = "";
  const add = (s: string, at: { start: number; end: number }) => {
    text += s;
    out.size += s.length;
    if (out.size > MAX_STRING_LENGTH)
      throw err("KILN_EXPR_EVAL", at, `Result is longer than the limit of ${MAX_STRING_LENGTH} characters.`);
  };
  for (const n of nodes) {
    switch (n.t) {
      case "text":
        add(n.value, { start: 0, end: 0 });
        break;
      case "interp": {
        const v = evalNode(n.ast, ctx);
        add(
          guard(n.ast, () => toText(v)),
          n.ast,
        );
        break;
      }
      case "if": {
        const c = evalNode(n.cond, ctx);
        if (typeof c !== "boolean")
          throw err(
            "KILN_EXPR_TYPE",
            n.cond,
            `The condition of %{ if } must be a bool, got ${describeType(c)}.`,
          );
        text += renderPacker(c ? n.then : n.else, ctx, out);
        break;
      }
      case "for": {
        const coll = evalNode(n.collection, ctx);
        let pairs: Array<[unknown, unknown]>;
        if (Array.isArray(coll)) pairs = coll.map((v, i) => [i, v ?? null]);
        else if (typeOf(coll) === "map") {
          const m = coll as Record<string, unknown>;
          pairs = mapKeys(m)
            .sort()
            .map((k) => [k, ownValue(m, k).value ?? null]);
        } else
          throw err(
            "KILN_EXPR_TYPE",
            n.collection,
            `%{ for } iterates over a list or a map, got ${describeType(coll)}.`,
          );
        for (const [k, v] of pairs) {
          const extra: Record<string, unknown> = { ...(ctx.extra ?? {}) };
          extra[n.valueVar] = v;
          if (n.keyVar !== undefined) extra[n.keyVar] = k;
          text += renderPacker(n.body, { ...ctx, extra }, out);
        }
        break;
      }
    }
  }
  return text;
}
