/**
 * Loading a build file, phase by phase: parse (parse.ts), check the structure (structure.ts),
 * walk the components (components.ts), resolve plugins (plugins.ts), bind variables and locals
 * (values.ts), evaluate expressions (expand.ts), check names that refer to sources
 * (references.ts) and every component's options against its plugin's schema (options.ts).
 * Every problem is collected; a KilnError carrying all of them (sorted by position) is thrown at the end.
 */
import { dirname, resolve } from "node:path";
import { coerceOptions } from "../schema/coerce.js";
import { type BuildSources, resolveBuildSources } from "./build-sources.js";
import { type ComponentRef, walkComponents } from "./components.js";
import { evaluateTree } from "./expand.js";
import { checkOptions, optionSchema } from "./options.js";
import { formatPath, type PathSegment } from "./parse.js";
import { pluginLookup } from "./plugins.js";
import { throwIfErrors } from "./problems.js";
import { redactorFor } from "./redact.js";
import { checkBuildName, checkBuildSources, checkOnlyExcept } from "./references.js";
import { loadStructure } from "./structure.js";
import type { LoadedBuild, LoadedBuildFile, LoadedComponent, LoadedSource, LoadOptions } from "./types.js";
import { BUILD_TIME_ROOTS, bindValues, secretsOf } from "./values.js";

export { type ComponentRef, type ComponentSlot, walkComponents } from "./components.js";
export { exprDiagnostic } from "./expand.js";
export { optionSchema } from "./options.js";
export { checkStructure, loadStructure, type RawFile, type Structure } from "./structure.js";
export type { LoadedBuild, LoadedBuildFile, LoadedComponent, LoadedSource, LoadOptions } from "./types.js";

const isMap = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

/** Load, check and evaluate a build file. Throws a KilnError with every problem found. */
export function loadBuildFile(opts: LoadOptions): LoadedBuildFile {
  const file = resolve(opts.file);
  const dir = dirname(file);
  const structure = opts.structure ?? loadStructure(opts.file);
  const { src, raw } = structure;
  const diags = [...structure.diags];
  if (opts.syntaxOnly) {
    throwIfErrors(diags, opts.file);
  }
  // Structural errors make everything after unreliable in places; carry on where the shapes allow.
  const plugins = pluginLookup(raw, dir, opts.resolver, src, diags, !opts.syntaxOnly);
  const values = bindValues(raw, src, dir, opts, diags);
  const sourceNames = isMap(raw.sources) ? Object.keys(raw.sources) : [];

  // Each build's sources (names, expressions, per-build variants), before the components that name them.
  const buildSrc = new Map<number, BuildSources>();
  const listScope = opts.syntaxOnly ? undefined : values.scopeFor({}, [...BUILD_TIME_ROOTS, "source"]);
  if (Array.isArray(raw.builds))
    raw.builds.forEach((b, i) => {
      if (isMap(b)) buildSrc.set(i, resolveBuildSources(b, i, listScope, src, diags));
    });
  const directlyUsed = new Set<string>();
  const variantBases = new Set<string>();
  for (const bs of buildSrc.values()) {
    for (const r of bs.refs) directlyUsed.add(r.name);
    for (const v of bs.variants) variantBases.add(v.base);
  }
  for (const v of variantBases)
    if (![...buildSrc.values()].some((bs) => bs.names.includes(v) && !bs.variants.some((x) => x.name === v)))
      directlyUsed.delete(v);

  /** Evaluate a component's options, apply Packer's conversions, check them against its schema. */
  const evaluateComponent = (
    c: ComponentRef,
    extraScope: Record<string, unknown>,
    deferredRoots: string[],
    into: typeof diags = diags,
  ): LoadedComponent => {
    const { kind, path, node: rawOpts } = c;
    const type = rawOpts.type;
    const plugin = plugins.resolveAt(kind, type, path);
    const r = opts.syntaxOnly
      ? { value: rawOpts, deferred: [] as PathSegment[][], sensitive: [] }
      : evaluateTree(
          rawOpts,
          path,
          values.scopeFor(extraScope, deferredRoots),
          src,
          into,
          false,
          values.hold,
        );
    values.derivedSecrets.push(...r.sensitive);
    let options = r.value as Record<string, unknown>;
    if (plugin && !opts.syntaxOnly && isMap(options))
      options = coerceOptions(optionSchema(kind, plugin.schema), options);
    if (plugin)
      checkOptions(kind, type, plugin, options, r.deferred, path, src, into, (t) =>
        redactorFor(secretsOf(values))(t),
      );
    return { kind, type: String(type), path, options, deferred: r.deferred, ...(plugin ? { plugin } : {}) };
  };
  const checkComponent = (
    c: ComponentRef,
    extraScope: Record<string, unknown>,
    deferredRoots: string[],
  ): LoadedComponent => evaluateComponent(c, extraScope, deferredRoots);

  // Components: data sources, sources, then each build's provisioners and post-processors.
  const data: Record<string, LoadedComponent> = {};
  const sources: Record<string, LoadedSource> = {};
  const parts = new Map<
    number,
    { provisioners: LoadedComponent[]; ecp?: LoadedComponent; chains: Map<number, LoadedComponent[]> }
  >();
  const runDeferred = [...BUILD_TIME_ROOTS, "source"];
  for (const c of walkComponents(raw)) {
    const slot = c.slot;
    if (slot.in === "data") {
      data[slot.name] = checkComponent(c, {}, [...BUILD_TIME_ROOTS, "source"]);
      continue;
    }
    if (slot.in === "sources") {
      const own: typeof diags = [];
      const s = evaluateComponent(
        c,
        { source: { name: slot.name, type: c.node.type } },
        [...BUILD_TIME_ROOTS],
        own,
      );
      // A source built only through per-build variants may leave required options to them.
      const top = formatPath(c.path);
      const onlyVariants = variantBases.has(slot.name) && !directlyUsed.has(slot.name);
      diags.push(
        ...own.filter((d) => !(onlyVariants && d.code === "KILN_SCHEMA_REQUIRED" && d.path === top)),
      );
      sources[slot.name] = { ...s, name: slot.name };
      continue;
    }
    const loaded = checkComponent(c, {}, runDeferred);
    checkOnlyExcept(loaded.options, c.path, buildSrc.get(slot.build)?.names ?? [], src, diags);
    let part = parts.get(slot.build);
    if (!part) {
      part = { provisioners: [], chains: new Map() };
      parts.set(slot.build, part);
    }
    if (slot.in === "provisioners") part.provisioners.push(loaded);
    else if (slot.in === "error-cleanup-provisioner") part.ecp = loaded;
    else {
      const chain = part.chains.get(slot.chain) ?? [];
      chain.push(loaded);
      part.chains.set(slot.chain, chain);
    }
  }

  // Per-build variants of sources: the source's options with the variant's on top, checked together.
  const variantsOf = new Map<number, Record<string, LoadedSource>>();
  for (const [i, bs] of buildSrc) {
    for (const v of bs.variants) {
      const baseRaw = isMap(raw.sources) ? raw.sources[v.base] : undefined;
      const base = sources[v.base];
      if (!isMap(baseRaw) || !base) continue; // an unknown source: reported with the build's sources
      const scope = { source: { name: v.name, type: baseRaw.type } };
      const found: typeof diags = [];
      const merged = evaluateComponent(
        {
          kind: "builder",
          type: base.type,
          path: v.path,
          node: { ...baseRaw, ...v.options },
          slot: { in: "sources", name: v.name },
        },
        scope,
        [...BUILD_TIME_ROOTS],
        found,
      );
      // What the variant's own options get wrong, and what the two together still leave missing,
      // at the variant; the source's own options are reported at the source.
      const prefix = formatPath(v.path);
      const keys = Object.keys(v.options);
      const under = (p: string | undefined, k: string) =>
        p === `${prefix}.${k}` || p?.startsWith(`${prefix}.${k}.`) || p?.startsWith(`${prefix}.${k}[`);
      diags.push(
        ...found.filter(
          (d) =>
            keys.some((k) => under(d.path, k)) || (d.code === "KILN_SCHEMA_REQUIRED" && d.path === prefix),
        ),
      );
      const map = variantsOf.get(i) ?? {};
      map[v.name] = { ...merged, name: v.name, base: v.base };
      variantsOf.set(i, map);
    }
  }

  // Builds
  const builds: LoadedBuild[] = [];
  const buildNames = new Map<string, number>();
  if (Array.isArray(raw.builds)) {
    raw.builds.forEach((b, i) => {
      if (!isMap(b)) return;
      const name = typeof b.name === "string" ? b.name : "";
      checkBuildName(name, i, buildNames, src, diags);
      const bs = buildSrc.get(i) ?? { names: [], refs: [], variants: [] };
      checkBuildSources(bs.refs, sourceNames, src, diags);
      const part = parts.get(i);
      const variants = variantsOf.get(i);
      builds.push({
        name,
        index: i,
        ...(typeof b.description === "string" ? { description: b.description } : {}),
        sources: bs.names,
        ...(variants ? { variants } : {}),
        provisioners: part?.provisioners ?? [],
        ...(part?.ecp ? { errorCleanupProvisioner: part.ecp } : {}),
        postProcessors: [...(part?.chains.values() ?? [])],
      });
    });
  }

  const secrets = secretsOf(values);
  throwIfErrors(diags, opts.file, secrets, values.masks);
  return {
    file,
    dir,
    src,
    variables: values.variables,
    locals: values.locals,
    sensitiveLocals: [...values.sensitiveLocals],
    sources,
    data,
    builds,
    plugins: plugins.used(),
    secrets,
    warnings: diags.filter((d) => d.severity === "warning"),
  };
}
