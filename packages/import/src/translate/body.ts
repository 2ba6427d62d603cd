/**
 * A block's body as kiln options: attributes as they are, nested blocks as a list of maps (or a
 * map, where the component's schema wants one), `dynamic` blocks as a `for` expression giving the
 * list. What kiln lacks is a commented entry, in its place.
 */

import { type KEntry, type KItem, type KNode, kmap, kseq, scalar } from "../emit/model.js";
import type { Block, Body, Expr } from "../hcl/ast.js";
import { attribute, blocks, staticString } from "../hcl/ast.js";
import { blockSchema, type Context, propertySchema, type SchemaLike, wantsObject } from "./context.js";
import { keyText, Unsupported } from "./expr.js";

/** Translate `fn`, or a dropped entry when it throws Unsupported. */
export function guarded<T extends KEntry | KItem>(
  ctx: Context,
  base: T,
  what: string,
  raw: string,
  pos: Block["pos"],
  fn: () => T,
): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof Unsupported) return ctx.drop(base, what, err.message, err.pos ?? pos, raw);
    throw err;
  }
}

/**
 * The entries of a body. `skip` names attributes and block types read by the caller (`type`,
 * `only` …). `what` prefixes the names in the report (`source "qemu" "vm"`).
 */
export function bodyEntries(
  ctx: Context,
  body: Body,
  schema: SchemaLike | undefined,
  what: string,
  skip: ReadonlySet<string> = new Set(),
  /** A component's own body (where `type:` is taken), not a nested block's. */
  topLevel = true,
): KEntry[] {
  const out: KEntry[] = [];
  const done = new Set<string>();
  for (const item of body.items) {
    if (item.kind === "attribute") {
      if (skip.has(item.name)) continue;
      if (item.name === "type" && topLevel) {
        // kiln's `type:` names the component: an option of that name has no place beside it.
        const base: KEntry = {
          key: item.name,
          value: scalar(null),
          comments: item.comments,
          origin: item.pos,
        };
        out.push(
          ctx.drop(
            base,
            `${what}.type`,
            "an option named type: in kiln, type: names the component",
            item.pos,
            item.raw,
          ),
        );
        continue;
      }
      const base: KEntry = {
        key: item.name,
        value: scalar(null),
        comments: item.comments,
        origin: item.pos,
        raw: item.raw,
      };
      out.push(
        guarded(ctx, base, `${what}.${item.name}`, item.raw, item.pos, () => ({
          ...base,
          value: weak(ctx, ctx.value(item.expr), propertySchema(schema, item.name)),
        })),
      );
      continue;
    }
    const option = item.type === "dynamic" ? item.labels[0] : item.type;
    if (option === undefined || skip.has(option) || done.has(option)) continue;
    done.add(option);
    out.push(nestedEntry(ctx, body, option, propertySchema(schema, option), `${what}.${option}`));
  }
  return out;
}

/** The blocks named `option` of a body (plain and dynamic), as one entry. */
function nestedEntry(
  ctx: Context,
  body: Body,
  option: string,
  schema: SchemaLike | undefined,
  what: string,
): KEntry {
  const group = body.items.filter(
    (i): i is Block =>
      i.kind === "block" && (i.type === option || (i.type === "dynamic" && i.labels[0] === option)),
  );
  const first = group[0] as Block;
  const raw = group.map((b) => b.raw).join("\n");
  const base: KEntry = { key: option, value: scalar(null), comments: first.comments, origin: first.pos, raw };
  const items = blockSchema(schema);
  return guarded(ctx, base, what, raw, first.pos, () => {
    if (group.every((b) => b.type !== "dynamic")) {
      if (wantsObject(schema) && group.length === 1)
        return { ...base, value: kmap(bodyEntries(ctx, first.body, items, what, new Set(), false)) };
      return {
        ...base,
        comments: undefined,
        value: kseq(
          group.map((b, i) => ({
            value: kmap(bodyEntries(ctx, b.body, items, what, new Set(), false)),
            comments: i === 0 ? undefined : b.comments,
            origin: b.pos,
          })),
        ),
        ...(first.comments ? { comments: first.comments } : {}),
      };
    }
    // dynamic blocks: one expression giving the list
    const { expr } = blockListExpr(ctx, group, items);
    if (wantsObject(schema))
      throw new Unsupported(`a dynamic "${option}" block where kiln takes one map`, first.pos);
    return { ...base, value: scalar(`\${{ ${expr} }}`) };
  });
}

/**
 * The blocks of one option, static and dynamic, as one list expression: runs of static blocks
 * `[{…}, {…}]`, each dynamic block its `[for …]`, joined with concat() when there are several;
 * `single` is the map expression when the group is one static block.
 */
function blockListExpr(
  ctx: Context,
  group: Block[],
  schema: SchemaLike | undefined,
): { expr: string; single?: string } {
  const parts: string[] = [];
  let statics: string[] = [];
  for (const b of group) {
    if (b.type === "dynamic") {
      if (statics.length) parts.push(`[${statics.join(", ")}]`);
      statics = [];
      parts.push(dynamicExpr(ctx, b, schema));
    } else statics.push(contentExpr(ctx, b.body, schema));
  }
  if (statics.length) parts.push(`[${statics.join(", ")}]`);
  const expr = parts.length === 1 ? (parts[0] as string) : `concat(${parts.join(", ")})`;
  return group.length === 1 && group[0]?.type !== "dynamic"
    ? { expr, single: statics[0] as string }
    : { expr };
}

/** `dynamic "x" { for_each = …; iterator = it; content { … } }` → `[for it_key, it in …: { … }]`. */
function dynamicExpr(ctx: Context, b: Block, schema: SchemaLike | undefined): string {
  const forEach = attribute(b.body, "for_each");
  if (!forEach) throw new Unsupported(`dynamic "${b.labels[0] ?? ""}" has no for_each`, b.pos);
  const iter = attribute(b.body, "iterator");
  const it = iter?.expr.t === "name" ? iter.expr.name : (b.labels[0] ?? "item");
  const content = blocks(b.body, "content")[0];
  if (!content) throw new Unsupported(`dynamic "${b.labels[0] ?? ""}" has no content block`, b.pos);
  const coll = ctx.expr(forEach.expr);
  const keyVar = `${it.replace(/-/g, "_")}_key`;
  const valueVar = it.replace(/-/g, "_");
  const body = ctx.translator.withBound(new Map([[it, { key: keyVar, value: valueVar }]]), () =>
    contentExpr(ctx, content.body, schema),
  );
  return `[for ${keyVar}, ${valueVar} in ${coll}: ${body}]`;
}

/** A block body as a map expression `{ a = …, nested = [{…}] }`. */
function contentExpr(ctx: Context, body: Body, schema: SchemaLike | undefined): string {
  const fields: string[] = [];
  const done = new Set<string>();
  for (const item of body.items) {
    if (item.kind === "attribute") {
      fields.push(`${keyText(item.name)} = ${ctx.expr(item.expr)}`);
      continue;
    }
    const option = item.type === "dynamic" ? item.labels[0] : item.type;
    if (option === undefined || done.has(option)) continue;
    done.add(option);
    const group = body.items.filter(
      (i): i is Block =>
        i.kind === "block" && (i.type === option || (i.type === "dynamic" && i.labels[0] === option)),
    );
    const sub = propertySchema(schema, option);
    const items = blockSchema(sub);
    const list = blockListExpr(ctx, group, items);
    const value = wantsObject(sub) && list.single !== undefined ? list.single : list.expr;
    fields.push(`${keyText(option)} = ${value}`);
  }
  return `{${fields.join(", ")}}`;
}

/**
 * Legacy JSON: `"memory": "{{user `m`}}"` with `m` empty is Packer's zero value, unset; kiln's
 * number and bool options do not take "", so the expression gives null for it.
 */
function weak(ctx: Context, v: KNode, schema: SchemaLike | undefined): KNode {
  if (!ctx.opts.legacy || v.kind !== "scalar" || typeof v.value !== "string") return v;
  const types = [schema?.type, ...(schema?.anyOf ?? []).map((s) => s.type)].flat();
  if (!types.some((t) => t === "integer" || t === "number" || t === "boolean")) return v;
  const m = /^\$\{\{ (.*) \}\}$/.exec(v.value);
  if (!m || (m[1] as string).includes("}}")) return v;
  const e = m[1] as string;
  const v1 = /^var\.([\w-]+)$/.exec(e)?.[1];
  const declared = v1 === undefined ? undefined : ctx.variables.get(v1)?.type;
  if (declared === "number" || declared === "bool") return v; // never ""
  const operand = /^[A-Za-z_][\w.-]*$/.test(e) ? e : `(${e})`;
  return scalar(`\${{ ${operand} == "" ? null : ${operand} }}`);
}

/** The value of `expr` as a kiln string (a plain string stays one). For labels and names. */
export function textOf(ctx: Context, expr: Expr): string {
  const v = ctx.value(expr);
  if (v.kind === "scalar" && typeof v.value === "string") return v.value;
  return `\${{ ${ctx.expr(expr)} }}`;
}

/** Text for people (a description, an error message): kept as written, placeholders and all. */
export function prose(ctx: Context, expr: Expr): KNode {
  const text = staticString(expr);
  return text === undefined ? ctx.value(expr) : scalar(text.replace(/\$\{\{/g, "$$$${{"));
}
