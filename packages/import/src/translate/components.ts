/**
 * Sources, data sources, provisioners and post-processors: `type` first, then the block's body as
 * options. A type kiln has no plugin for is a commented block with the reason.
 */

import { type KEntry, type KItem, type KMap, kmap, kseq, scalar } from "../emit/model.js";
import type { Block, Body } from "../hcl/ast.js";
import { attribute, staticValue } from "../hcl/ast.js";
import { bodyEntries, guarded } from "./body.js";
import type { ComponentInfo, Context, Kind } from "./context.js";
import { Unsupported } from "./expr.js";
import type { Named } from "./names.js";
import { TYPE_ALIASES } from "./names.js";
import { rewriteOption } from "./rewrites.js";

const KIND_WORD: Record<Kind, string> = {
  builder: "builder",
  provisioner: "provisioner",
  "post-processor": "post-processor",
  datasource: "data source",
};

/** The kiln type for a Packer type, and whether kiln has it here. */
export function componentFor(
  ctx: Context,
  kind: Kind,
  type: string,
): { kilnType: string; info?: ComponentInfo; missing?: string } {
  const kilnType = TYPE_ALIASES[type] ?? type;
  const found = ctx.opts.components.lookup(kind, kilnType);
  if ("missing" in found) return { kilnType, missing: found.missing };
  if (found.pin) ctx.pins.set(kilnType, found.pkg);
  return { kilnType, info: found };
}

/** Why a type is not imported, as the report says it. */
export function missingReason(kind: Kind, type: string, why: string): string {
  return `kiln has no ${KIND_WORD[kind]} "${type}" (${why})`;
}

/** A source's or data source's options, with `{{ .Name }}` meaning its vm_name. */
export function sourceMap(ctx: Context, n: Named, info: ComponentInfo, kind: Kind): KMap {
  const what = `${kind === "builder" ? "source" : "data"} "${n.type}" "${n.name}"`;
  const vmName = attribute(n.block.body, "vm_name");
  ctx.vmName = undefined;
  if (vmName) {
    try {
      ctx.vmName = ctx.expr(vmName.expr);
    } catch (err) {
      if (!(err instanceof Unsupported)) throw err;
    }
  }
  try {
    const map = kmap([
      { key: "type", value: scalar(n.kilnType) },
      ...bodyEntries(ctx, n.block.body, info.schema, what),
    ]);
    map.trailing = n.block.body.trailing;
    if (n.kilnType !== n.type)
      ctx.note("changed", what, `Packer's "${n.type}" is kiln's "${n.kilnType}"`, n.block.pos);
    return map;
  } finally {
    ctx.vmName = undefined;
  }
}

/** `sources:` / `data:` entries, in the template's order. */
export function namedEntries(ctx: Context, list: Named[], kind: Kind): KEntry[] {
  return list.map((n) => {
    const base: KEntry = {
      key: n.kiln,
      value: scalar(null),
      comments: n.block.comments,
      origin: n.block.pos,
      raw: n.block.raw,
    };
    const what = `${kind === "builder" ? "source" : "data"} "${n.type}" "${n.name}"`;
    if (n.dropped) return ctx.drop(base, what, n.dropped, n.block.pos, n.block.raw);
    const c = componentFor(ctx, kind, n.kilnType);
    if (!c.info)
      return ctx.drop(base, what, missingReason(kind, n.kilnType, c.missing ?? ""), n.block.pos, n.block.raw);
    const info = c.info;
    return guarded(ctx, base, what, n.block.raw, n.block.pos, () => ({
      ...base,
      value: sourceMap(ctx, n, info, kind),
    }));
  });
}

/** Common keys of provisioners and post-processors that kiln reads itself. */
const COMMON = new Set(["only", "except", "override", "name", "type"]);

/** The source a glob of `only`/`except` names exactly (`qemu.vm` or `vm`), if any. */
function namedSource(ctx: Context, s: string): Named | undefined {
  if (s.includes("*") || s.includes("?")) return undefined;
  const byRef = ctx.sources.get(`source.${s}`);
  if (byRef) return byRef;
  const byName = [...ctx.sources.values()].filter((n) => n.name === s);
  return byName.length === 1 ? byName[0] : undefined;
}

/**
 * `only` / `except`: Packer's `type.name` of a source is kiln's `type.<kiln name>`. Entries naming
 * a source that is not imported match nothing and are left out; a component whose `only` names
 * nothing else runs for no source kiln builds, and is commented out.
 */
function sourceGlobs(ctx: Context, b: Block, key: "only" | "except"): KEntry | undefined {
  const a = attribute(b.body, key);
  if (!a) return undefined;
  const base: KEntry = { key, value: scalar(null), comments: a.comments, origin: a.pos, raw: a.raw };
  const v = staticValue(a.expr)?.value;
  if (!(Array.isArray(v) && v.every((s) => typeof s === "string")))
    return guarded(ctx, base, `${b.type} "${b.labels[0] ?? ""}".${key}`, a.raw, a.pos, () => ({
      ...base,
      value: ctx.value(a.expr),
    }));
  const isGlob = (s: string) => s.includes("*") || s.includes("?");
  const kept = (v as string[]).filter((s) => {
    if (isGlob(s)) return true;
    const n = namedSource(ctx, s);
    if (!n)
      ctx.note(
        "changed",
        `${b.type} "${b.labels[0] ?? ""}".${key}`,
        `"${s}" names no source of this template: it matches nothing, in Packer too, and is left out`,
        a.pos,
      );
    return n !== undefined && !n.dropped;
  });
  if (key === "only" && v.length > 0 && kept.length === 0)
    throw new Unsupported(
      `its only: names no source kiln imports (${v.join(", ")}), so it would never run`,
      a.pos,
    );
  if (kept.length === 0) return undefined;
  return { ...base, value: kseq(kept.map((s) => ({ value: scalar(renameGlob(ctx, s)) }))) };
}

/** `qemu.vm` → `qemu.<kiln name of vm>`; globs and unknown names stay as written. */
export function renameGlob(ctx: Context, s: string): string {
  const n = namedSource(ctx, s);
  if (n && !n.dropped) return s.includes(".") ? `${n.kilnType}.${n.kiln}` : n.kiln;
  return s;
}

/** `override = { "qemu.vm" = { … } }` (legacy JSON: `{ "vm": { … } }`): keys are kiln source names. */
function overrideEntry(ctx: Context, b: Block, kind: Kind, type: string): KEntry | undefined {
  const a = attribute(b.body, "override");
  if (!a) return undefined;
  const base: KEntry = { key: "override", value: scalar(null), comments: a.comments, origin: a.pos };
  return guarded(ctx, base, `${b.type} "${type}".override`, a.raw, a.pos, () => {
    if (a.expr.t !== "object") throw new Unsupported("an override that is not written as a map", a.pos);
    const entries: KEntry[] = a.expr.entries.map((en) => {
      const k = staticValue(en.key)?.value ?? (en.key.t === "name" ? en.key.name : undefined);
      const ebase: KEntry = { key: String(k), value: scalar(null), comments: en.comments, origin: en.pos };
      if (typeof k !== "string") throw new Unsupported("an override key that is not a name", en.pos);
      const n = ctx.sources.get(`source.${k}`) ?? [...ctx.sources.values()].find((s) => s.name === k);
      if (!n)
        return ctx.drop(
          ebase,
          `override "${k}"`,
          `no source "${k}" in this template`,
          en.pos,
          JSON.stringify(k),
        );
      if (n.dropped)
        return ctx.drop(
          { ...ebase, key: n.kiln },
          `override "${k}"`,
          `its source is not imported (${n.dropped})`,
          en.pos,
          `${k} = …`,
        );
      return { ...ebase, key: n.kiln, value: ctx.value(en.value) };
    });
    void kind;
    return { ...base, value: kmap(entries) };
  });
}

/** A provisioner or post-processor block as a list item. */
export function stepItem(ctx: Context, b: Block, kind: Kind): KItem {
  const type = b.labels[0] ?? "";
  const what = `${b.type} "${type}"`;
  const base: KItem = { value: scalar(null), comments: b.comments, origin: b.pos, raw: b.raw };
  const c = componentFor(ctx, kind, type);
  if (!c.info) return ctx.drop(base, what, missingReason(kind, type, c.missing ?? ""), b.pos, b.raw);
  const info = c.info;
  return guarded(ctx, base, what, b.raw, b.pos, () => {
    const entries: KEntry[] = [{ key: "type", value: scalar(c.kilnType) }];
    const nameAttr = attribute(b.body, "name");
    if (nameAttr) entries.push({ key: "name", value: ctx.value(nameAttr.expr), comments: nameAttr.comments });
    for (const key of ["only", "except"] as const) {
      const e = sourceGlobs(ctx, b, key);
      if (e) entries.push(e);
    }
    for (const e of bodyEntries(ctx, b.body, info.schema, what, COMMON)) {
      const v =
        e.value.kind === "scalar" && typeof e.value.value === "string" && !e.disabled
          ? e.value.value
          : undefined;
      const r = v === undefined || v.includes("${{") ? undefined : rewriteOption(kind, c.kilnType, e.key, v);
      if (r && "none" in r)
        entries.push(ctx.drop(e, `${what}.${e.key}`, r.none, e.origin ?? b.pos, e.raw ?? ""));
      else if (r) {
        ctx.note("changed", `${what}.${e.key}`, `Packer's "${v}" is "${r.value}" in kiln`, e.origin);
        entries.push({ ...e, value: scalar(r.value) });
      } else entries.push(e);
    }
    const o = overrideEntry(ctx, b, kind, type);
    if (o) entries.push(o);
    const map = kmap(entries);
    map.trailing = b.body.trailing;
    return { ...base, value: map };
  });
}

/** The blocks of a body in order, of the given types. */
export function blocksOf(body: Body, types: readonly string[]): Block[] {
  return body.items.filter((i): i is Block => i.kind === "block" && types.includes(i.type));
}
