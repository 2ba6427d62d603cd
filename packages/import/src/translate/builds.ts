/**
 * `build` blocks → `builds:`. Sources by their kiln names (a `source "qemu.vm" { … }` block inside
 * the build is a per-build variant), provisioners and post-processors in the order written
 * (`post-processors { … }` is a chain), `error-cleanup-provisioner`. A build left without a source
 * kiln can build is a commented block.
 */

import { type KEntry, type KItem, type KMap, kmap, kseq, scalar } from "../emit/model.js";
import type { Block } from "../hcl/ast.js";
import { attribute, staticValue } from "../hcl/ast.js";
import { bodyEntries, guarded, prose } from "./body.js";
import { blocksOf, componentFor, stepItem } from "./components.js";
import type { Context } from "./context.js";
import { Unsupported } from "./expr.js";
import { quote } from "./gotemplate.js";
import { kilnName, type Named } from "./names.js";

const BUILD_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

/** `source.qemu.vm` (or `qemu.vm`) → the source it names. */
function sourceRef(ctx: Context, ref: string): Named | undefined {
  return ctx.sources.get(ref.startsWith("source.") ? ref : `source.${ref}`);
}

/** `sources = [...]` of a build: kiln names; sources not imported are commented items. */
function sourcesAttr(ctx: Context, b: Block, items: KItem[], what: string): void {
  const a = attribute(b.body, "sources");
  if (!a) return;
  const list = staticValue(a.expr)?.value;
  if (Array.isArray(list)) {
    const tuple = a.expr.t === "tuple" ? a.expr.items : [];
    list.forEach((ref, i) => {
      const comments = tuple[i]?.comments ?? (i === 0 ? a.comments : undefined);
      const pos = tuple[i]?.expr.pos ?? a.pos;
      const base: KItem = { value: scalar(null), ...(comments ? { comments } : {}), origin: pos };
      const n = typeof ref === "string" ? sourceRef(ctx, ref) : undefined;
      if (!n) {
        const last = typeof ref === "string" ? (ref.split(".").pop() ?? ref) : String(ref);
        items.push({ ...base, value: scalar(kilnName(last)) });
        ctx.note("invalid", `${what}.sources`, `"${String(ref)}" names no source of this template`, pos);
      } else if (n.dropped)
        items.push(
          ctx.drop(
            base,
            `${what}: ${ref}`,
            `its source is not imported: ${n.dropped}`,
            pos,
            JSON.stringify(ref),
          ),
        );
      else items.push({ ...base, value: scalar(n.kiln) });
    });
    return;
  }
  // An expression giving Packer's references: map them to kiln's names at build time.
  const pairs = [...ctx.sources.values()].filter((n) => !n.dropped);
  const dropped = [...ctx.sources.values()].filter((n) => n.dropped);
  const map = `{${pairs.map((n) => `${quote(n.ref)} = ${quote(n.kiln)}`).join(", ")}}`;
  const skip = dropped.length ? ` if !contains([${dropped.map((n) => quote(n.ref)).join(", ")}], s)` : "";
  const expr = `[for s in ${ctx.expr(a.expr)}: lookup(${map}, s, s)${skip}]`;
  items.push({ value: scalar(`\${{ ${expr} }}`), comments: a.comments, origin: a.pos });
  ctx.note(
    "changed",
    `${what}.sources`,
    dropped.length
      ? `the list comes from an expression: Packer's source references are mapped to kiln's names when it is evaluated, and those of sources not imported (${dropped.map((n) => n.ref).join(", ")}) are skipped`
      : "the list comes from an expression: Packer's source references are mapped to kiln's names when it is evaluated",
    a.pos,
  );
}

/** `source "qemu.vm" { name = "x"; … }` inside a build: a per-build variant. */
function variantItem(ctx: Context, s: Block, what: string): KItem {
  const ref = s.labels[0] ?? "";
  const base: KItem = { value: scalar(null), comments: s.comments, origin: s.pos };
  const n = sourceRef(ctx, ref);
  const w = `${what}: source "${ref}"`;
  if (!n) return ctx.drop(base, w, `"${ref}" names no source of this template`, s.pos, s.raw);
  if (n.dropped) return ctx.drop(base, w, `its source is not imported: ${n.dropped}`, s.pos, s.raw);
  const c = componentFor(ctx, "builder", n.kilnType);
  return guarded(ctx, base, w, s.raw, s.pos, () => {
    const entries: KEntry[] = [{ key: "source", value: scalar(n.kiln) }];
    const name = attribute(s.body, "name");
    if (name) entries.push({ key: "name", value: ctx.value(name.expr), comments: name.comments });
    entries.push(...bodyEntries(ctx, s.body, c.info?.schema, w, new Set(["name"])));
    const map = kmap(entries);
    map.trailing = s.body.trailing;
    return { ...base, value: map };
  });
}

/** A `post-processors { … }` chain: a nested list (its unsupported members are commented). */
function chainItem(ctx: Context, b: Block): KItem {
  const members = blocksOf(b.body, ["post-processor"]).map((p) => stepItem(ctx, p, "post-processor"));
  const base: KItem = { value: kseq(members), comments: b.comments, origin: b.pos };
  if (!members.some((m) => !m.disabled)) {
    const reasons = members.map((m) => m.disabled).filter(Boolean);
    return {
      ...base,
      disabled: `a chain of which kiln has nothing: ${reasons.join("; ")}`,
      raw: b.raw,
      value: scalar(null),
    };
  }
  return base;
}

export function buildItem(ctx: Context, b: Block, index: number): KItem {
  const nameAttr = attribute(b.body, "name");
  const name = nameAttr ? staticValue(nameAttr.expr)?.value : undefined;
  const what = `build${typeof name === "string" ? ` "${name}"` : ` #${index + 1}`}`;
  const base: KItem = { value: scalar(null), comments: b.comments, origin: b.pos };
  return guarded(ctx, base, what, b.raw, b.pos, () => {
    const entries: KEntry[] = [];
    if (nameAttr) {
      if (typeof name !== "string")
        throw new Unsupported("a build name computed from an expression", nameAttr.pos);
      let kname = name;
      if (!BUILD_NAME.test(name)) {
        kname = name.replace(/[^A-Za-z0-9_.-]+/g, "_").replace(/^([^A-Za-z_])/, "_$1");
        ctx.note(
          "changed",
          what,
          `kiln build names are letters, digits, _, - and .: "${name}" is "${kname}"`,
          nameAttr.pos,
        );
      }
      entries.push({ key: "name", value: scalar(kname), comments: nameAttr.comments });
    }
    const description = attribute(b.body, "description");
    if (description)
      entries.push({
        key: "description",
        value: prose(ctx, description.expr),
        comments: description.comments,
      });
    for (const item of b.body.items) {
      const known = [
        "name",
        "description",
        "sources",
        "source",
        "provisioner",
        "post-processor",
        "post-processors",
        "error-cleanup-provisioner",
      ];
      const key = item.kind === "attribute" ? item.name : item.type;
      if (known.includes(key)) continue;
      const why =
        key === "hcp_packer_registry"
          ? "kiln does not publish to HCP Packer's registry"
          : key === "dynamic"
            ? `kiln has no dynamic ${item.kind === "block" ? (item.labels[0] ?? "") : ""} blocks in a build: write the components out (with only/except, or an expression in their options)`
            : `kiln builds have no "${key}"`;
      ctx.note("unsupported", `${what}.${key}`, why, item.pos);
      entries.push({
        key,
        value: scalar(null),
        disabled: `${why} (${ctx.where(item.pos)})`,
        raw: item.raw,
        comments: item.comments,
      });
    }
    const sources: KItem[] = [];
    sourcesAttr(ctx, b, sources, what);
    for (const s of blocksOf(b.body, ["source"])) sources.push(variantItem(ctx, s, what));
    entries.push({ key: "sources", value: kseq(sources) });
    const provisioners = blocksOf(b.body, ["provisioner"]).map((p) => stepItem(ctx, p, "provisioner"));
    if (provisioners.length) entries.push({ key: "provisioners", value: kseq(provisioners) });
    const cleanup = blocksOf(b.body, ["error-cleanup-provisioner"])[0];
    if (cleanup) {
      const it = stepItem(ctx, cleanup, "provisioner");
      const entry: KEntry = { key: "error-cleanup-provisioner", value: it.value, comments: it.comments };
      entries.push(it.disabled ? { ...entry, disabled: it.disabled, raw: it.raw as string } : entry);
    }
    const pps = blocksOf(b.body, ["post-processor", "post-processors"]).map((p) =>
      p.type === "post-processors" ? chainItem(ctx, p) : stepItem(ctx, p, "post-processor"),
    );
    if (pps.length) entries.push({ key: "post-processors", value: kseq(pps) });
    if (!sources.some((s) => !s.disabled)) {
      throw new Unsupported("none of its sources has a kiln builder, so kiln has nothing to build", b.pos);
    }
    const map: KMap = kmap(entries);
    map.trailing = b.body.trailing;
    return { ...base, value: map };
  });
}
