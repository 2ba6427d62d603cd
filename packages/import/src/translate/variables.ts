/**
 * `variable` blocks → `variables:`, `locals` / `local` blocks → `locals:`. A default is a plain
 * value in kiln: `default = env("X")` becomes the env binding `env: X` (with `default: ""`, as
 * Packer's env() gives for an unset variable); any other expression has no kiln equivalent.
 */

import { fromData, type KEntry, kmap, kseq, scalar, toData } from "../emit/model.js";
import type { Block, Expr } from "../hcl/ast.js";
import { attribute, blocks, staticValue } from "../hcl/ast.js";
import { guarded, prose } from "./body.js";
import type { Context } from "./context.js";
import { Unsupported } from "./expr.js";

/** Packer's type constraint → kiln's type (list/map for the collections), or undefined for `any`. */
export function kilnType(e: Expr | undefined, dflt: unknown): string | undefined {
  if (!e) return undefined;
  const name =
    e.t === "name" ? e.name : e.t === "call" ? e.name : e.t === "literal" ? String(e.value) : undefined;
  switch (name) {
    case "string":
    case "number":
    case "bool":
      return name;
    case "list":
    case "set":
    case "tuple":
      return "list";
    case "map":
    case "object":
      return "map";
    default: {
      // any: what the default is
      if (Array.isArray(dflt)) return "list";
      if (dflt !== null && typeof dflt === "object") return "map";
      if (typeof dflt === "number") return "number";
      if (typeof dflt === "boolean") return "bool";
      return undefined;
    }
  }
}

/** Whether a translated value holds an expression anywhere. */
function hasExpression(v: unknown): boolean {
  if (typeof v === "string") return v.includes("${{");
  if (Array.isArray(v)) return v.some(hasExpression);
  if (v !== null && typeof v === "object") return Object.values(v).some(hasExpression);
  return false;
}

export function variableEntry(ctx: Context, b: Block): KEntry {
  const name = b.labels[0] ?? "";
  const base: KEntry = { key: name, value: scalar(null), comments: b.comments, origin: b.pos, raw: b.raw };
  const what = `variable "${name}"`;
  return guarded(ctx, base, what, b.raw, b.pos, () => {
    if (b.labels.length !== 1)
      throw new Unsupported(
        `a variable block takes one label, its name; this one has ${b.labels.length}`,
        b.pos,
      );
    const entries: KEntry[] = [];
    const dflt = attribute(b.body, "default");
    let dfltValue: unknown;
    let dfltEntry: KEntry | undefined;
    let envName: string | undefined;
    const auto = ctx.opts.autoValues?.get(name);
    if (auto) {
      dfltValue = auto.value;
      dfltEntry = { key: "default", value: fromData(auto.value), comments: dflt?.comments, origin: auto.pos };
      ctx.note(
        "changed",
        what,
        `its value from ${ctx.opts.displayFile(auto.pos.file)} (read by Packer by itself) is its default in kiln, which reads no variables file unless told`,
        auto.pos,
      );
    } else if (dflt) {
      const e = dflt.expr;
      if (e.t === "call" && e.name === "env" && e.args.length === 1) {
        const arg = staticValue(e.args[0] as Expr)?.value;
        if (typeof arg !== "string") throw new Unsupported("env() of a computed name", dflt.pos);
        envName = arg;
        dfltValue = "";
        dfltEntry = { key: "default", value: scalar(""), comments: dflt.comments, origin: dflt.pos };
      } else {
        const dBase: KEntry = {
          key: "default",
          value: scalar(null),
          comments: dflt.comments,
          origin: dflt.pos,
          raw: dflt.raw,
        };
        const d = guarded(ctx, dBase, `${what}.default`, dflt.raw, dflt.pos, () => {
          const v = ctx.value(e);
          const data = toData(v);
          if (
            typeof data === "string" &&
            hasExpression(data) &&
            !/\b(var|local|http|build|path|source|data)\./.test(data)
          ) {
            // Read from the environment and computed with functions: kiln's defaults may do that too.
            return { ...dBase, value: v };
          }
          if (hasExpression(data)) {
            // A default computed from something (a legacy `{{env}}` in text, a placeholder): kiln's
            // defaults are plain values, so the variable defaults to null and a local computes it.
            const local = ctx.localNames.has(name) ? `var_${name}` : name;
            ctx.computedDefaults.set(name, { local, expr: ctx.expr(e), pos: dflt.pos });
            ctx.localNames.add(local);
            ctx.note(
              "changed",
              `${what}.default`,
              `kiln's defaults are plain values: this one is computed by local.${local} (var.${name} when it is set, else the default), and the template uses that local`,
              dflt.pos,
            );
            return { ...dBase, value: scalar(null) };
          }
          return { ...dBase, value: v };
        });
        dfltValue = d.disabled ? undefined : toData(d.value);
        dfltEntry = d;
      }
    }
    const typeAttr = attribute(b.body, "type");
    const type = kilnType(typeAttr?.expr, dfltValue);
    if (type && typeAttr)
      entries.push({ key: "type", value: scalar(type), comments: typeAttr.comments, origin: typeAttr.pos });
    const description = attribute(b.body, "description");
    if (description)
      entries.push({
        key: "description",
        value: prose(ctx, description.expr),
        comments: description.comments,
      });
    if (dfltEntry) entries.push(dfltEntry);
    const sensitive = attribute(b.body, "sensitive");
    if (sensitive) {
      const v = staticValue(sensitive.expr)?.value;
      if (v === true) entries.push({ key: "sensitive", value: scalar(true), comments: sensitive.comments });
    }
    if (envName !== undefined) entries.push({ key: "env", value: scalar(envName) });
    ctx.variables.set(name, {
      sensitive: staticValue(sensitive?.expr ?? { t: "literal", value: false, pos: b.pos })?.value === true,
      ...(type ? { type } : {}),
    });
    const validations = blocks(b.body, "validation").map((v) => {
      const condition = attribute(v.body, "condition");
      const message = attribute(v.body, "error_message");
      if (!condition || !message)
        throw new Unsupported("a validation block without condition or error_message", v.pos);
      return {
        value: kmap([
          {
            key: "condition",
            value: scalar(`\${{ ${ctx.plainVars(() => ctx.expr(condition.expr))} }}`),
            comments: condition.comments,
          },
          { key: "error_message", value: prose(ctx, message.expr), comments: message.comments },
        ]),
        comments: v.comments,
      };
    });
    if (validations.length === 1)
      entries.push({
        key: "validation",
        value: (validations[0] as { value: ReturnType<typeof kmap> }).value,
        comments: validations[0]?.comments,
      });
    else if (validations.length > 1) entries.push({ key: "validation", value: kseq(validations) });
    for (const item of b.body.items) {
      if (
        item.kind === "attribute" &&
        !["type", "default", "description", "sensitive", "nullable"].includes(item.name)
      )
        ctx.note("unsupported", `${what}.${item.name}`, `kiln variables have no "${item.name}"`, item.pos);
    }
    const map = kmap(entries);
    map.trailing = b.body.trailing;
    return { ...base, value: map };
  });
}

/** Every name a value or expression reads: `var.x`, `local.y`. */
export function readsOf(
  e: Expr,
  out: Array<{ root: string; name: string }> = [],
): Array<{ root: string; name: string }> {
  const visit = (x: Expr): void => {
    switch (x.t) {
      case "attr":
        if (x.object.t === "name") out.push({ root: x.object.name, name: x.name });
        else visit(x.object);
        return;
      case "index":
        visit(x.object);
        visit(x.index);
        return;
      case "splat":
        visit(x.object);
        return;
      case "template":
        for (const p of x.parts) visitPart(p);
        return;
      case "tuple":
        for (const i of x.items) visit(i.expr);
        return;
      case "object":
        for (const en of x.entries) {
          visit(en.key);
          visit(en.value);
        }
        return;
      case "call":
        for (const a of x.args) visit(a);
        return;
      case "for":
        visit(x.collection);
        if (x.key) visit(x.key);
        visit(x.value);
        if (x.cond) visit(x.cond);
        return;
      case "unary":
        visit(x.operand);
        return;
      case "binary":
        visit(x.left);
        visit(x.right);
        return;
      case "conditional":
        visit(x.test);
        visit(x.then);
        visit(x.else);
        return;
      case "paren":
        visit(x.inner);
        return;
      default:
        return;
    }
  };
  const visitPart = (p: import("../hcl/ast.js").TemplatePart): void => {
    if (p.t === "interp") visit(p.expr);
    else if (p.t === "if") {
      visit(p.cond);
      for (const q of p.then) visitPart(q);
      for (const q of p.else ?? []) visitPart(q);
    } else if (p.t === "for") {
      visit(p.collection);
      for (const q of p.body) visitPart(q);
    }
  };
  visit(e);
  return out;
}

interface LocalDef {
  name: string;
  expr: Expr;
  sensitive: boolean;
  comments: Block["comments"];
  pos: Block["pos"];
  raw: string;
}

/** Every local of the template, from `locals { … }` and `local "x" { … }`, in order. */
export function localDefs(items: Block[]): LocalDef[] {
  const out: LocalDef[] = [];
  for (const b of items) {
    if (b.type === "locals") {
      for (const i of b.body.items)
        if (i.kind === "attribute")
          out.push({
            name: i.name,
            expr: i.expr,
            sensitive: false,
            comments: i.comments,
            pos: i.pos,
            raw: i.raw,
          });
    } else if (b.type === "local") {
      const e = attribute(b.body, "expression");
      if (!e) continue;
      const s = attribute(b.body, "sensitive");
      out.push({
        name: b.labels[0] ?? "",
        expr: e.expr,
        sensitive: s ? staticValue(s.expr)?.value === true : false,
        comments: b.comments,
        pos: b.pos,
        raw: b.raw,
      });
    }
  }
  return out;
}

/**
 * The locals as entries. Translated until nothing changes, since a local that uses one not imported
 * is not imported either.
 */
export function localEntries(ctx: Context, defs: LocalDef[]): KEntry[] {
  for (const d of defs) ctx.localNames.add(d.name);
  let entries: KEntry[] = [];
  for (let round = 0; round <= defs.length; round++) {
    const before = ctx.droppedLocals.size;
    const reportLength = ctx.report.length;
    entries = defs.map((d) => {
      const base: KEntry = {
        key: d.name,
        value: scalar(null),
        comments: d.comments,
        origin: d.pos,
        raw: d.raw,
      };
      const forced = ctx.opts.forcedLocals?.get(d.name);
      if (forced !== undefined) return ctx.drop(base, `local.${d.name}`, forced, d.pos, d.raw);
      const e = guarded(ctx, base, `local.${d.name}`, d.raw, d.pos, () => ({
        ...base,
        value: ctx.value(d.expr),
      }));
      if (e.disabled && !ctx.droppedLocals.has(d.name))
        ctx.droppedLocals.set(d.name, e.disabled.replace(/ \([^)]*\)$/, ""));
      return e;
    });
    if (ctx.droppedLocals.size === before) break;
    ctx.report.length = reportLength; // translated again: report each once
  }
  const sensitiveLocals = new Set<string>();
  for (const d of defs) {
    const reads = readsOf(d.expr);
    const fromSecret = reads.some(
      (r) =>
        (r.root === "var" && ctx.variables.get(r.name)?.sensitive) ||
        (r.root === "local" && sensitiveLocals.has(r.name)),
    );
    if (fromSecret) sensitiveLocals.add(d.name);
    else if (d.sensitive)
      ctx.note(
        "changed",
        `local "${d.name}"`,
        "kiln has no sensitive locals: it redacts a local computed from a sensitive variable, and this one is not; mark the variables it comes from sensitive",
        d.pos,
      );
  }
  return entries;
}

/** A value written as plain data (a variables file's). */
export function dataEntry(key: string, value: unknown): KEntry {
  return { key, value: fromData(value) };
}
