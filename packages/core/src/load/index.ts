/**
 * Loading a build file, phase by phase: parse (parse.ts), check the structure (structure.ts),
 * walk the components (components.ts), resolve plugins (plugins.ts), bind variables and locals
 * (values.ts), evaluate expressions (expand.ts), check names that refer to sources
 * (references.ts) and every component's options against its plugin's schema (options.ts).
 * Every problem is collected; a KilnError carrying all of them (sorted by position) is thrown at the end.
 */
import { dirname, resolve } from "node:path";
import { type ComponentRef, walkComponents } from "./components.js";
import { evaluateTree } from "./expand.js";
import { checkOptions } from "./options.js";
import type { PathSegment } from "./parse.js";
import { pluginLookup } from "./plugins.js";
import { throwIfErrors } from "./problems.js";
import { redactorFor } from "./redact.js";
import { buildSources, checkBuildName, checkBuildSources, checkOnlyExcept } from "./references.js";
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

  const checkComponent = (
    c: ComponentRef,
    extraScope: Record<string, unknown>,
    deferredRoots: string[],
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
          diags,
          false,
          values.hold,
        );
    values.derivedSecrets.push(...r.sensitive);
    const options = r.value as Record<string, unknown>;
    if (plugin)
      checkOptions(kind, type, plugin, options, r.deferred, path, src, diags, (t) =>
        redactorFor(secretsOf(values))(t),
      );
    return { kind, type: String(type), path, options, deferred: r.deferred, ...(plugin ? { plugin } : {}) };
  };

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
      const s = checkComponent(c, { source: { name: slot.name, type: c.node.type } }, [...BUILD_TIME_ROOTS]);
      sources[slot.name] = { ...s, name: slot.name };
      continue;
    }
    const b = raw.builds?.[slot.build] as Record<string, unknown>;
    checkOnlyExcept(c.node, c.path, buildSources(b), src, diags);
    const loaded = checkComponent(c, {}, runDeferred);
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

  // Builds
  const builds: LoadedBuild[] = [];
  const buildNames = new Map<string, number>();
  if (Array.isArray(raw.builds)) {
    raw.builds.forEach((b, i) => {
      if (!isMap(b)) return;
      const name = typeof b.name === "string" ? b.name : "";
      checkBuildName(name, i, buildNames, src, diags);
      const srcList = buildSources(b);
      checkBuildSources(srcList, i, sourceNames, src, diags);
      const part = parts.get(i);
      builds.push({
        name,
        index: i,
        ...(typeof b.description === "string" ? { description: b.description } : {}),
        sources: srcList,
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
