import { type LoadedBuildFile, type LoadedComponent, loadStructure, type Structure } from "@kiln/core";
import { type CommandContext, EXIT } from "../context.js";
import { fileArg, loadFromArgs, redactor, report } from "../shared.js";

/** A value as JSON; a build-time value (a `Deferred` marker) shows as the string as written. */
function show(v: unknown): string {
  return v === undefined ? "(no value)" : JSON.stringify(v);
}

/** Locals, with those computed from a sensitive value masked (by that mark, not by their text). */
function maskedLocals(loaded: LoadedBuildFile): Record<string, unknown> {
  const sensitive = new Set(loaded.sensitiveLocals);
  return Object.fromEntries(
    Object.entries(loaded.locals).map(([k, v]) => [k, sensitive.has(k) ? "<sensitive>" : v]),
  );
}

function describe(loaded: LoadedBuildFile) {
  const variables = Object.values(loaded.variables).map((v) => ({
    name: v.name,
    type: v.decl.type ?? "string",
    value: v.sensitive ? "<sensitive>" : v.value,
    sensitive: v.sensitive,
    from: v.origin ?? null,
    ...(v.decl.description ? { description: v.decl.description } : {}),
  }));
  const comp = (c: LoadedComponent) => c.type;
  return {
    file: loaded.file,
    variables,
    locals: maskedLocals(loaded),
    sensitiveLocals: loaded.sensitiveLocals,
    plugins: loaded.plugins.map((p) => ({
      kind: p.kind,
      type: p.type,
      package: p.pkg.name,
      version: p.pkg.version,
      via: p.via,
      path: p.pkg.dir,
    })),
    data: Object.fromEntries(Object.entries(loaded.data).map(([k, d]) => [k, d.type])),
    sources: Object.fromEntries(Object.entries(loaded.sources).map(([k, s]) => [k, s.type])),
    builds: loaded.builds.map((b) => ({
      name: b.name,
      sources: b.sources,
      runs: b.sources.map((s) =>
        [b.name || undefined, (b.variants?.[s] ?? loaded.sources[s])?.type, s].filter(Boolean).join("."),
      ),
      provisioners: b.provisioners.map(comp),
      ...(b.errorCleanupProvisioner ? { "error-cleanup-provisioner": comp(b.errorCleanupProvisioner) } : {}),
      "post-processors": b.postProcessors.map((chain) => chain.map(comp)),
    })),
  };
}

export async function run(ctx: CommandContext): Promise<number> {
  const file = fileArg(ctx, "inspect");
  if (!file) return EXIT.INVALID;
  let loaded: LoadedBuildFile;
  let structure: Structure | undefined;
  try {
    structure = loadStructure(file);
    loaded = loadFromArgs(ctx, file, { requireValues: false, structure });
  } catch (err) {
    return report(ctx, err, structure?.src);
  }
  const redact = redactor(loaded.secrets);
  const info = describe(loaded);
  if (ctx.values.json) {
    ctx.stdout.write(`${redact(JSON.stringify(info, null, 2))}\n`);
    return EXIT.OK;
  }
  const out: string[] = [];
  out.push("variables:");
  if (info.variables.length === 0) out.push("  (none)");
  const w = Math.max(0, ...info.variables.map((v) => v.name.length));
  for (const v of info.variables) {
    const from = v.from ? `  (${v.from})` : "  (no value: required)";
    out.push(
      `  ${v.name.padEnd(w)} ${v.type.padEnd(6)} = ${v.sensitive ? "<sensitive>" : show(v.value)}${from}`,
    );
  }
  out.push("", "locals:");
  const locals = Object.entries(info.locals);
  if (locals.length === 0) out.push("  (none)");
  const hidden = new Set(info.sensitiveLocals);
  for (const [k, v] of locals) out.push(`  ${k} = ${hidden.has(k) ? "<sensitive>" : show(v)}`);
  out.push("", "plugins:");
  if (info.plugins.length === 0) out.push("  (none)");
  for (const p of info.plugins)
    out.push(`  ${p.kind.padEnd(14)} ${p.type.padEnd(16)} ${p.package}@${p.version}  (${p.via}: ${p.path})`);
  if (Object.keys(info.data).length) {
    out.push("", "data:");
    for (const [k, t] of Object.entries(info.data)) out.push(`  ${k}  (${t})`);
  }
  out.push("", "sources:");
  if (Object.keys(info.sources).length === 0) out.push("  (none)");
  for (const [k, t] of Object.entries(info.sources)) out.push(`  ${k}  (${t})`);
  out.push("", "builds:");
  if (info.builds.length === 0) out.push("  (none)");
  for (const b of info.builds) {
    out.push(`  ${b.name || "(unnamed)"}:`);
    out.push(`    runs: ${b.runs.join(", ")}`);
    if (b.provisioners.length) out.push(`    provisioners: ${b.provisioners.join(", ")}`);
    if (b["error-cleanup-provisioner"])
      out.push(`    error-cleanup-provisioner: ${b["error-cleanup-provisioner"]}`);
    if (b["post-processors"].length)
      out.push(`    post-processors: ${b["post-processors"].map((c) => c.join(" → ")).join(", ")}`);
  }
  ctx.stdout.write(`${redact(out.join("\n"))}\n`);
  return EXIT.OK;
}
