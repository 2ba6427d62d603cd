/**
 * Every component's own checks (`check` of the plugin API) over a loaded file, as diagnostics at
 * their place in it: `kiln validate` runs them all, `kiln build` those of the runs it starts,
 * before anything else, so a missing script or a `<waitXX>` typo is found before a VM boots.
 * Loads the components' code (never runs a step); a check that throws is a plugin bug, reported
 * at the component's type.
 */
import { type Diagnostic, diagnostic, isKilnError, sortDiagnostics } from "../errors.js";
import { formatPath, type PathSegment, positionInScalar, positionOf } from "../load/parse.js";
import type { LoadedBuildFile, LoadedComponent } from "../load/types.js";
import { createRuntime } from "../plugins/runtime.js";
import { applyDefaults } from "../schema/defaults.js";
import { messageOf } from "../util/abort.js";
import type { CheckFn, ConfigProblem } from "./types.js";

export interface CheckOptions {
  env?: Record<string, string | undefined>;
  /** Only these builds (indexes) and, of their sources, only these run source names. */
  runs?: Array<{ buildIndex: number; source: string }>;
}

/** The components to check: each once, in file order. */
function componentsOf(loaded: LoadedBuildFile, runs: CheckOptions["runs"]): LoadedComponent[] {
  const out = new Set<LoadedComponent>();
  loaded.builds.forEach((b, i) => {
    const wanted = runs?.filter((r) => r.buildIndex === i).map((r) => r.source);
    if (runs && wanted?.length === 0) return;
    for (const name of b.sources) {
      if (wanted && !wanted.includes(name)) continue;
      const s = b.variants?.[name] ?? loaded.sources[name];
      if (s) out.add(s);
    }
    for (const p of b.provisioners) out.add(p);
    if (b.errorCleanupProvisioner) out.add(b.errorCleanupProvisioner);
    for (const chain of b.postProcessors) for (const pp of chain) out.add(pp);
  });
  if (!runs) {
    // Sources no build lists are checked too, but not those built only through per-build
    // variants (a source may leave options to its variants, which are checked).
    const bases = new Set(loaded.builds.flatMap((b) => Object.values(b.variants ?? {}).map((v) => v.base)));
    for (const [name, s] of Object.entries(loaded.sources)) if (!bases.has(name)) out.add(s);
  }
  return [...out];
}

/** Run every component's `check`; the problems as diagnostics, positioned in the build file. */
export async function checkComponents(
  loaded: LoadedBuildFile,
  opts: CheckOptions = {},
): Promise<Diagnostic[]> {
  const diags: Diagnostic[] = [];
  const env = opts.env ?? process.env;
  const runtimes = new Map<string, Promise<{ check?: CheckFn<unknown> } | undefined>>();
  for (const c of componentsOf(loaded, opts.runs)) {
    const plugin = c.plugin;
    if (!plugin) continue;
    const key = `${plugin.pkg.dir}|${plugin.kind}|${plugin.type}`;
    let rt = runtimes.get(key);
    if (!rt) {
      rt = createRuntime<{ check?: CheckFn<unknown> }>(plugin).catch((e: unknown) => {
        // Its schema was checked; a build would stop at loading it (and say why): a warning here.
        diags.push(
          diagnostic(
            isKilnError(e) ? e.code : "KILN_PLUGIN_LOAD",
            `${plugin.pkg.name}: the ${plugin.kind} "${plugin.type}" cannot be loaded, so its own checks did not run: ${messageOf(e)}`,
            {
              severity: "warning",
              path: formatPath([...c.path, "type"]),
              pos: positionOf(loaded.src, [...c.path, "type"]),
            },
          ),
        );
        return undefined;
      });
      runtimes.set(key, rt);
    }
    const runtime = await rt;
    if (!runtime?.check) continue;
    let problems: ConfigProblem[];
    try {
      problems = await runtime.check(applyDefaults(plugin.schema, c.options), {
        baseDir: loaded.dir,
        type: c.type,
        env,
      });
    } catch (e) {
      diags.push(
        diagnostic(
          "KILN_PLUGIN_CHECK",
          `${plugin.pkg.name}: the checks of ${c.kind} "${c.type}" failed: ${messageOf(e)}`,
          {
            path: formatPath([...c.path, "type"]),
            pos: positionOf(loaded.src, [...c.path, "type"]),
            hint: `This is a fault of the plugin package; report it to its authors (${plugin.pkg.dir}).`,
          },
        ),
      );
      continue;
    }
    for (const p of problems) {
      const path: PathSegment[] = [...c.path, ...(p.option ?? [])];
      const pos =
        p.offset !== undefined ? positionInScalar(loaded.src, path, p.offset) : positionOf(loaded.src, path);
      diags.push(
        diagnostic("KILN_CONFIG", `[${c.type}] ${p.message}`, {
          path: formatPath(path),
          pos,
          ...(p.hint ? { hint: p.hint } : {}),
          ...(p.severity === "warning" ? { severity: "warning" as const } : {}),
        }),
      );
    }
  }
  return sortDiagnostics(diags);
}
