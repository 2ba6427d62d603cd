/**
 * The `${{ … }}` expression language: a small, safe language over the roots a build file can see
 * (`var`, `local`, `env`, `path`, `source`, `build`, `http`) and a fixed set of functions.
 * Nothing here evaluates JavaScript.
 *
 * Maps are written `{ key = value, "other key" = value }`; `{ key: value }` is accepted too.
 */
export type {
  Ast,
  BinaryNode,
  BinaryOp,
  CallNode,
  ConditionalNode,
  IndexNode,
  ListNode,
  LiteralNode,
  MapEntry,
  MapNode,
  MemberNode,
  NameNode,
  UnaryNode,
  UnaryOp,
} from "./ast.js";
export { checkTemplate, type Reference, references } from "./check.js";
export { Deferred, holdsDeferred, isDeferred } from "./deferred.js";
export { ExprError, type ExprErrorCode, type ExprErrorOptions } from "./errors.js";
export { evaluateExpression, evaluateTemplate, evaluateTracked, type Tracked } from "./evaluate.js";
export { FUNCTION_NAMES } from "./functions/index.js";
export * as limits from "./limits.js";
export {
  hasExpressions,
  parseExpression,
  parseTemplate,
  type Template,
  type TemplateExpr,
  type TemplateText,
} from "./parse.js";
export { DEFERRED, type DeferredSymbol, type Scope } from "./scope.js";
