/**
 * A whole template (the items of all its files, in the order Packer reads them) → the kiln file:
 * `plugins`, `variables`, `locals`, `data`, `sources`, `builds`.
 */

import { type KEntry, type KMap, kmap, kseq, scalar } from "../emit/model.js";
import type { Block, Body, Item } from "../hcl/ast.js";
import { staticValue } from "../hcl/ast.js";
import { buildItem } from "./builds.js";
import { componentFor, missingReason, namedEntries } from "./components.js";
import { Context, type ContextOptions, type Kind } from "./context.js";
import { assignNames, type Named, TYPE_ALIASES } from "./names.js";
import { localDefs, localEntries, variableEntry } from "./variables.js";

export interface Translation {
  root: KMap;
  ctx: Context;
}

const TOP = new Set(["packer", "variable", "variables", "locals", "local", "data", "source", "build"]);

function named(ctx: Context, blocks: Block[], kind: Kind, prefix: "source" | "data"): Named[] {
  const out: Named[] = blocks.map((b) => {
    const [type = "", name = ""] = b.labels;
    const kilnType = TYPE_ALIASES[type] ?? type;
    const c =
      b.labels.length === 2
        ? componentFor(ctx, kind, kilnType)
        : {
            missing: `a ${prefix} block takes two labels, its type and its name; this one has ${b.labels.length}`,
          };
    return {
      ref: `${prefix}.${type}.${name}`,
      type,
      kilnType,
      name,
      kiln: name,
      block: b,
      ...("info" in c && c.info
        ? {}
        : {
            dropped:
              b.labels.length === 2 ? missingReason(kind, kilnType, c.missing ?? "") : (c.missing ?? ""),
          }),
    };
  });
  assignNames(out);
  return out;
}

/** `packer { required_plugins { … } }` → `plugins:` for the types imported; the others commented. */
function pluginEntries(ctx: Context, packer: Block[], usedTypes: Set<string>): KEntry[] {
  const out: KEntry[] = [];
  const pinned = new Set<string>();
  for (const p of packer) {
    for (const item of p.body.items) {
      if (item.kind === "attribute" && item.name === "required_version") {
        ctx.note("unsupported", "packer.required_version", "kiln does not check Packer's version", item.pos);
        continue;
      }
      if (item.kind !== "block" || item.type !== "required_plugins") {
        const key = item.kind === "attribute" ? item.name : item.type;
        ctx.note("unsupported", `packer.${key}`, `kiln has no packer.${key}`, item.pos);
        continue;
      }
      for (const r of item.body.items) {
        if (r.kind !== "attribute") continue;
        const spec = staticValue(r.expr)?.value as { source?: string; version?: string } | undefined;
        const covers = [...usedTypes].filter(
          (t) =>
            t === r.name || t.startsWith(`${r.name}-`) || (r.name === "outscale" && t.startsWith("osc-")),
        );
        const kinds: Kind[] = ["builder", "provisioner", "post-processor", "datasource"];
        const served = covers.filter((t) =>
          kinds.some((k) => !("missing" in ctx.opts.components.lookup(k, t))),
        );
        if (served.length === 0) {
          const why = `no kiln plugin serves Packer's ${r.name} plugin${spec?.source ? ` (${spec.source})` : ""} for the types this template imports`;
          ctx.note("unsupported", `required_plugins.${r.name}`, why, r.pos);
          out.push({
            key: r.name,
            value: scalar(null),
            disabled: `${why} (${ctx.where(r.pos)})`,
            raw: r.raw,
            comments: r.comments,
          });
          continue;
        }
        served.forEach((t, i) => {
          if (pinned.has(t)) return;
          pinned.add(t);
          const pkg = kinds.map((k) => ctx.opts.components.lookup(k, t)).find((x) => !("missing" in x));
          if (!pkg || "missing" in pkg) return;
          out.push({
            key: t,
            value: scalar(pkg.pkg),
            ...(i === 0 ? { comments: r.comments } : {}),
            origin: r.pos,
          });
        });
      }
    }
  }
  // Types found only through the naming convention must be pinned for `kiln build` to install them.
  for (const [t, pkg] of ctx.pins) if (!pinned.has(t)) out.push({ key: t, value: scalar(pkg) });
  return out;
}

/** Every type of every component the template uses. */
function usedTypes(items: Item[]): Set<string> {
  const out = new Set<string>();
  const visit = (b: Block) => {
    if ((b.type === "source" || b.type === "data") && b.labels.length === 2)
      out.add(TYPE_ALIASES[b.labels[0] ?? ""] ?? b.labels[0] ?? "");
    if (["provisioner", "post-processor", "error-cleanup-provisioner"].includes(b.type) && b.labels[0])
      out.add(b.labels[0]);
    for (const i of b.body.items) if (i.kind === "block") visit(i);
  };
  for (const i of items) if (i.kind === "block") visit(i);
  return out;
}

export function translateTemplate(body: Body, opts: ContextOptions): Translation {
  const ctx = new Context(opts);
  const blocksOfType = (t: string) =>
    body.items.filter((i): i is Block => i.kind === "block" && i.type === t);
  const unknownTop: KEntry[] = [];
  for (const item of body.items) {
    const key = item.kind === "attribute" ? item.name : item.type;
    if (TOP.has(key)) continue;
    const why =
      key === "min_packer_version"
        ? "kiln does not check Packer's version"
        : `kiln has no top-level ${item.kind === "block" ? "block" : "attribute"} "${key}"`;
    unknownTop.push(
      ctx.drop(
        { key, value: scalar(null), comments: item.comments, origin: item.pos },
        key,
        why,
        item.pos,
        item.raw,
      ),
    );
  }
  const sources = named(ctx, blocksOfType("source"), "builder", "source");
  for (const s of sources) ctx.sources.set(s.ref, s);
  const data = named(ctx, blocksOfType("data"), "datasource", "data");
  for (const d of data) ctx.data.set(d.ref, d);

  const root = kmap([{ key: "kiln", value: scalar(1) }]);
  const defs = localDefs([...blocksOfType("locals"), ...blocksOfType("local")]);
  for (const d of defs) ctx.localNames.add(d.name);
  const variables = blocksOfType("variable").map((b) => variableEntry(ctx, b));
  const locals = localEntries(ctx, defs);
  for (const [name, c] of ctx.computedDefaults)
    locals.push({
      key: c.local,
      value: scalar(
        `\${{ var.${name} != null ? var.${name} : ${c.expr.includes("?") ? `(${c.expr})` : c.expr} }}`,
      ),
      comments: { before: [` var.${name}, or its Packer default when it is not set`] },
      origin: c.pos,
    });
  const dataEntries = namedEntries(ctx, data, "datasource");
  const sourceEntries = namedEntries(ctx, sources, "builder");
  const builds = blocksOfType("build").map((b, i) => buildItem(ctx, b, i));
  const plugins = pluginEntries(ctx, blocksOfType("packer"), usedTypes(body.items));
  for (const [name, x] of ctx.externals) {
    const call = `${x.fn}(${x.args.map((a) => JSON.stringify(a)).join(", ")})`;
    const entries: KEntry[] = [
      { key: "type", value: scalar("string") },
      {
        key: "description",
        value: scalar(`Read by Packer with ${call}; kiln reads no secret store: give the value.`),
      },
    ];
    if (x.sensitive) entries.push({ key: "sensitive", value: scalar(true) });
    variables.push({ key: name, value: kmap(entries), origin: x.pos });
  }

  const section = (key: string, entries: KEntry[]) => {
    if (entries.length) root.entries.push({ key, value: kmap(entries) });
  };
  section("plugins", plugins);
  section("variables", variables);
  section("locals", locals);
  section("data", dataEntries);
  section("sources", sourceEntries);
  if (builds.length) root.entries.push({ key: "builds", value: kseq(builds) });
  root.entries.push(...unknownTop);
  root.trailing = body.trailing;
  return { root, ctx };
}
