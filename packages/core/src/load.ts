/**
 * Loading a build file: parse, check the structure, resolve plugins, bind variables and locals,
 * evaluate expressions, check every component's options against its plugin's schema. Every
 * problem is collected; a KilnError carrying all of them (sorted by position) is thrown at the end.
 */
import { dirname, resolve } from "node:path";
import validRange from "semver/ranges/valid.js";
import { type Diagnostic, diagnostic, isKilnError, KilnError, sortDiagnostics } from "./errors.js";
import { evaluateTree, exprDiagnostic, isUnder, parseAt } from "./evaluate.js";
import { parseTemplate, references, type Scope, type Template } from "./expr/index.js";
import {
  PluginResolver,
  parsePackageSpec,
  type ResolvedComponent,
  type ResolverOptions,
} from "./plugins/resolve.js";
import {
  baseSchema,
  type JsonSchema,
  type Kind,
  POST_PROCESSOR_COMMON,
  PROVISIONER_COMMON,
} from "./schema/base.js";
import { suggest, validateValue } from "./schema/validate.js";
import { formatPath, loadYamlFile, type PathSegment, positionOf, type SourceFile } from "./source.js";
import {
  resolveVariables,
  type VariableDecl,
  type VariableInputs,
  type VariableValue,
  validateVariables,
} from "./variables.js";

export interface LoadOptions extends VariableInputs {
  /** Path of the build file. */
  file: string;
  /** Only YAML syntax and the file's structure: no plugins, no variables. */
  syntaxOnly?: boolean;
  /** Fail when a variable has no value (true for build, validate). Default true. */
  requireValues?: boolean;
  /** Where plugins are looked for besides the file's folder, and the standard set. */
  resolver?: Omit<ResolverOptions, "fromDir" | "plugins">;
  /** Working directory for path.cwd; default process.cwd(). */
  cwd?: string;
}

export interface LoadedComponent {
  kind: Kind;
  type: string;
  /** Where it is in the file, e.g. ["builds", 0, "provisioners", 1]. */
  path: PathSegment[];
  /** Options with expressions evaluated; strings that need build-time values are kept as written. */
  options: Record<string, unknown>;
  deferred: PathSegment[][];
  plugin?: ResolvedComponent;
}

export interface LoadedSource extends LoadedComponent {
  name: string;
}

export interface LoadedBuild {
  name: string;
  index: number;
  description?: string;
  sources: string[];
  provisioners: LoadedComponent[];
  errorCleanupProvisioner?: LoadedComponent;
  /** Each entry is a chain; a single post-processor is a chain of one. */
  postProcessors: LoadedComponent[][];
}

export interface LoadedBuildFile {
  file: string;
  dir: string;
  src: SourceFile;
  variables: Record<string, VariableValue>;
  locals: Record<string, unknown>;
  sources: Record<string, LoadedSource>;
  data: Record<string, LoadedComponent>;
  builds: LoadedBuild[];
  /** Every distinct plugin component the file uses. */
  plugins: ResolvedComponent[];
  /** Values to redact from all output: sensitive variables' values. */
  secrets: string[];
  warnings: Diagnostic[];
}

export interface RawFile {
  kiln?: unknown;
  plugins?: Record<string, string>;
  variables?: Record<string, VariableDecl>;
  locals?: Record<string, unknown>;
  data?: Record<string, Record<string, unknown>>;
  sources?: Record<string, Record<string, unknown>>;
  builds?: Array<Record<string, unknown>>;
}

/** Roots that exist only while a build runs. */
const BUILD_TIME_ROOTS = ["build", "http", "data"] as const;

function throwIfErrors(diags: Diagnostic[], file: string, secrets: string[] = []): void {
  // A value can be checked twice (a component's common keys are in the base schema and in its
  // option schema); report each problem once.
  const seen = new Set<string>();
  const errors = diags.filter((d) => {
    if (d.severity !== "error") return false;
    const key = `${d.code}|${d.pos?.line}:${d.pos?.column}|${d.path ?? ""}|${d.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  if (errors.length === 0) return;
  const sorted = sortDiagnostics(errors);
  const first = sorted[0];
  throw new KilnError(
    first?.code ?? "KILN_SCHEMA",
    `${file}: ${errors.length} problem${errors.length === 1 ? "" : "s"}`,
    {
      diagnostics: sorted,
      secrets,
    },
  );
}

/** Parse a build file and check its structure only. */
export function loadStructure(file: string): { src: SourceFile; raw: RawFile; diags: Diagnostic[] } {
  const src = loadYamlFile(file);
  const diags: Diagnostic[] = [];
  const raw = src.value as RawFile;
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    diags.push(
      diagnostic("KILN_SCHEMA_TYPE", "a build file is a map of keys (kiln, variables, sources, builds, …)", {
        pos: positionOf(src, []),
        hint: "Start the file with `kiln: 1`, then `sources:` and `builds:`.",
      }),
    );
    throwIfErrors(diags, src.file);
  }
  if (!("kiln" in raw)) {
    diags.push(
      diagnostic("KILN_HEADER", "the file has no `kiln: 1` header", {
        path: "kiln",
        pos: { file: src.file, line: 1, column: 1 },
      }),
    );
  } else if (raw.kiln !== 1) {
    diags.push(
      diagnostic(
        "KILN_HEADER",
        typeof raw.kiln === "string" && Number(raw.kiln) === 1
          ? `the format version is the text ${JSON.stringify(raw.kiln)}; it must be the number 1, without quotes`
          : `format version ${JSON.stringify(raw.kiln)} is not supported; this kiln reads version 1`,
        { path: "kiln", pos: positionOf(src, ["kiln"]), hint: "Write `kiln: 1`." },
      ),
    );
  }
  const schemaDiags = validateValue(baseSchema(), raw, src, { what: "top-level key" }).filter(
    (d) =>
      !(d.path === "kiln" && d.code !== "KILN_SCHEMA_UNKNOWN_KEY") &&
      !(d.code === "KILN_SCHEMA_REQUIRED" && d.message.includes('"kiln"') && d.path === ""),
  );
  diags.push(...schemaDiags);
  const pluginMap =
    raw.plugins !== null && typeof raw.plugins === "object" && !Array.isArray(raw.plugins) ? raw.plugins : {};
  for (const [name, spec] of Object.entries(pluginMap)) {
    if (typeof spec !== "string") continue;
    const { range } = parsePackageSpec(spec);
    if (range !== undefined && validRange(range) === null) {
      diags.push(
        diagnostic("KILN_PLUGIN_SPEC", `"${range}" is not a semver range`, {
          path: `plugins.${name}`,
          pos: positionOf(src, ["plugins", name]),
        }),
      );
    }
  }
  return { src, raw, diags };
}

/** Load, check and evaluate a build file. Throws a KilnError with every problem found. */
export function loadBuildFile(opts: LoadOptions): LoadedBuildFile {
  const file = resolve(opts.file);
  const dir = dirname(file);
  const { src, raw, diags } = loadStructure(opts.file);
  if (opts.syntaxOnly) {
    throwIfErrors(diags, opts.file);
  }
  // Structural errors make everything after unreliable in places; carry on where the shapes allow.
  const isMap = (v: unknown): v is Record<string, unknown> =>
    v !== null && typeof v === "object" && !Array.isArray(v);

  const resolver = new PluginResolver({
    fromDir: dir,
    ...(opts.resolver ?? {}),
    // Entries that are not strings are reported by the schema check.
    plugins: isMap(raw.plugins)
      ? Object.fromEntries(Object.entries(raw.plugins).filter(([, v]) => typeof v === "string"))
      : {},
  });
  const used = new Map<string, ResolvedComponent>();
  const resolveAt = (kind: Kind, type: unknown, path: PathSegment[]): ResolvedComponent | undefined => {
    if (typeof type !== "string" || opts.syntaxOnly) return undefined;
    const key = `${kind}:${type}`;
    if (used.has(key)) return used.get(key);
    try {
      const r = resolver.resolve(kind, type);
      used.set(key, r);
      return r;
    } catch (err) {
      if (!isKilnError(err)) throw err;
      let hint = err.hint;
      if (err.code === "KILN_PLUGIN_NOT_FOUND") {
        // A standard type whose package is not installed is spelled right: no "did you mean" then.
        const close = suggest(
          type,
          resolver.knownTypes(kind).filter((t) => t !== type),
        );
        if (close) hint = `Did you mean "${close}"? Otherwise: ${hint ?? ""}`;
      }
      diags.push(
        diagnostic(err.code, err.message, {
          path: formatPath([...path, "type"]),
          pos: positionOf(src, [...path, "type"]),
          ...(hint ? { hint } : {}),
        }),
      );
      used.set(key, undefined as unknown as ResolvedComponent);
      return undefined;
    }
  };

  // Variables
  const decls = isMap(raw.variables) ? (raw.variables as Record<string, VariableDecl>) : {};
  const variables = opts.syntaxOnly
    ? {}
    : resolveVariables(
        Object.fromEntries(Object.entries(decls).filter(([, d]) => isMap(d))),
        src,
        opts,
        diags,
        opts.requireValues ?? true,
      );
  const localsRaw = isMap(raw.locals) ? raw.locals : {};
  const env = opts.env ?? process.env;
  const varNames = new Set(Object.keys(decls));
  const localNames = new Set(Object.keys(localsRaw));
  const sourceNames = isMap(raw.sources) ? Object.keys(raw.sources) : [];
  const values: Record<string, unknown> = {
    var: Object.fromEntries(Object.entries(variables).map(([k, v]) => [k, v.value])),
    local: {},
    env: Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined)),
    path: { root: dir, cwd: opts.cwd ?? process.cwd() },
  };
  const scopeFor = (extra: Record<string, unknown>, deferredRoots: string[]): Scope => ({
    values: { ...values, ...extra },
    deferred: new Set(deferredRoots),
    members: { var: varNames, local: localNames },
    baseDir: dir,
  });

  if (!opts.syntaxOnly) {
    validateVariables(variables, src, scopeFor({}, [...BUILD_TIME_ROOTS, "source"]), diags);
  }

  // Expressions that use a variable without a value (already reported) are not evaluated, so
  // one missing value does not cause an error at every place it is used.
  const missing = {
    var: new Set(
      Object.values(variables)
        .filter((v) => v.origin === undefined)
        .map((v) => v.name),
    ),
    local: new Set<string>(),
  };
  const hold = (t: Template) =>
    references(t).some(
      (r) =>
        (r.root === "var" || r.root === "local") && r.member !== undefined && missing[r.root].has(r.member),
    );

  // Locals, in dependency order
  const locals: Record<string, unknown> = values.local as Record<string, unknown>;
  if (!opts.syntaxOnly) {
    const { order, cyclic } = orderLocals(localsRaw, src, diags);
    for (const name of order) {
      if (cyclic.has(name)) {
        // Already reported as a cycle: keep the text as written rather than report it again.
        locals[name] = localsRaw[name];
        continue;
      }
      const r = evaluateTree(
        localsRaw[name],
        ["locals", name],
        scopeFor({ local: locals }, [...BUILD_TIME_ROOTS, "source"]),
        src,
        diags,
        false,
        hold,
      );
      if (r.deferred.length > 0 && hasMissing(localsRaw[name], hold)) missing.local.add(name);
      locals[name] = r.value;
    }
  }

  const checkComponent = (
    kind: Kind,
    rawOpts: Record<string, unknown>,
    path: PathSegment[],
    extraScope: Record<string, unknown>,
    deferredRoots: string[],
  ): LoadedComponent => {
    const type = rawOpts.type;
    const plugin = resolveAt(kind, type, path);
    const r = opts.syntaxOnly
      ? { value: rawOpts, deferred: [] as PathSegment[][] }
      : evaluateTree(rawOpts, path, scopeFor(extraScope, deferredRoots), src, diags, false, hold);
    const options = r.value as Record<string, unknown>;
    if (plugin) {
      const schema = optionSchema(kind, plugin.schema);
      diags.push(
        ...validateValue(schema, options, src, {
          basePath: path,
          what: `${type} option`,
          deferred: (p) => isUnder(p, r.deferred),
        }),
      );
      if (kind === "provisioner" && isMap(options.override)) {
        const partial = optionSchema(kind, withoutRequired(plugin.schema));
        for (const [srcName, o] of Object.entries(options.override)) {
          diags.push(
            ...validateValue(partial, { type, ...(o as object) }, src, {
              basePath: [...path, "override", srcName],
              what: `${type} option`,
            }),
          );
        }
      }
    }
    return { kind, type: String(type), path, options, deferred: r.deferred, ...(plugin ? { plugin } : {}) };
  };

  // Data sources
  const data: Record<string, LoadedComponent> = {};
  if (isMap(raw.data)) {
    for (const [name, d] of Object.entries(raw.data)) {
      if (!isMap(d)) continue;
      data[name] = checkComponent("datasource", d, ["data", name], {}, [...BUILD_TIME_ROOTS, "source"]);
    }
  }

  // Sources
  const sources: Record<string, LoadedSource> = {};
  if (isMap(raw.sources)) {
    for (const [name, s] of Object.entries(raw.sources)) {
      if (!isMap(s)) continue;
      const c = checkComponent("builder", s, ["sources", name], { source: { name, type: s.type } }, [
        ...BUILD_TIME_ROOTS,
      ]);
      sources[name] = { ...c, name };
    }
  }

  // Builds
  const builds: LoadedBuild[] = [];
  const buildNames = new Map<string, number>();
  if (Array.isArray(raw.builds)) {
    raw.builds.forEach((b, i) => {
      if (!isMap(b)) return;
      const base: PathSegment[] = ["builds", i];
      const name = typeof b.name === "string" ? b.name : "";
      if (name) {
        const prev = buildNames.get(name);
        if (prev !== undefined) {
          diags.push(
            diagnostic("KILN_DUPLICATE_NAME", `build name "${name}" is used by builds[${prev}] too`, {
              path: formatPath([...base, "name"]),
              pos: positionOf(src, [...base, "name"]),
              hint: "Give each build its own name; runs are named build.type.source.",
            }),
          );
        } else buildNames.set(name, i);
      }
      const srcList = Array.isArray(b.sources)
        ? b.sources.filter((s): s is string => typeof s === "string")
        : [];
      srcList.forEach((s, j) => {
        if (!sourceNames.includes(s)) {
          const close = suggest(s, sourceNames);
          diags.push(
            diagnostic(
              "KILN_REF_UNKNOWN_SOURCE",
              `build names source "${s}", which is not defined under \`sources:\``,
              {
                path: formatPath([...base, "sources", j]),
                pos: positionOf(src, [...base, "sources", j]),
                hint: close
                  ? `Did you mean "${close}"?`
                  : sourceNames.length
                    ? `defined sources: ${sourceNames.join(", ")}`
                    : "define it under `sources:`",
              },
            ),
          );
        }
      });
      const runDeferred = [...BUILD_TIME_ROOTS, "source"];
      const checkOnlyExcept = (c: Record<string, unknown>, path: PathSegment[]) => {
        for (const key of ["only", "except"] as const) {
          const list = c[key];
          if (!Array.isArray(list)) continue;
          list.forEach((entry, k) => {
            if (typeof entry !== "string" || entry.includes("*") || entry.includes(".")) return;
            if (!srcList.includes(entry)) {
              const close = suggest(entry, srcList);
              diags.push(
                diagnostic(
                  "KILN_REF_UNKNOWN_SOURCE",
                  `${key} names "${entry}", which is not a source of this build`,
                  {
                    path: formatPath([...path, key, k]),
                    pos: positionOf(src, [...path, key, k]),
                    hint: close
                      ? `Did you mean "${close}"?`
                      : `this build's sources: ${srcList.join(", ") || "none"}`,
                  },
                ),
              );
            }
          });
        }
        // Per-source overrides name sources of this build too.
        if (isMap(c.override)) {
          for (const key of Object.keys(c.override)) {
            if (srcList.includes(key)) continue;
            const close = suggest(key, srcList);
            diags.push(
              diagnostic(
                "KILN_REF_UNKNOWN_SOURCE",
                `override names "${key}", which is not a source of this build`,
                {
                  path: formatPath([...path, "override", key]),
                  pos: positionOf(src, [...path, "override", key], "key"),
                  hint: close
                    ? `Did you mean "${close}"?`
                    : `this build's sources: ${srcList.join(", ") || "none"}`,
                },
              ),
            );
          }
        }
      };
      const provisioners: LoadedComponent[] = [];
      if (Array.isArray(b.provisioners)) {
        b.provisioners.forEach((p, k) => {
          if (!isMap(p)) return;
          const path = [...base, "provisioners", k];
          checkOnlyExcept(p, path);
          provisioners.push(checkComponent("provisioner", p, path, {}, runDeferred));
        });
      }
      let errorCleanupProvisioner: LoadedComponent | undefined;
      const ecp = b["error-cleanup-provisioner"];
      if (isMap(ecp)) checkOnlyExcept(ecp, [...base, "error-cleanup-provisioner"]);
      if (isMap(ecp))
        errorCleanupProvisioner = checkComponent(
          "provisioner",
          ecp,
          [...base, "error-cleanup-provisioner"],
          {},
          runDeferred,
        );
      const postProcessors: LoadedComponent[][] = [];
      if (Array.isArray(b["post-processors"])) {
        b["post-processors"].forEach((pp, k) => {
          const chain = Array.isArray(pp) ? pp : [pp];
          const loaded: LoadedComponent[] = [];
          chain.forEach((item, m) => {
            if (!isMap(item)) return;
            const path = Array.isArray(pp)
              ? [...base, "post-processors", k, m]
              : [...base, "post-processors", k];
            checkOnlyExcept(item, path);
            loaded.push(checkComponent("post-processor", item, path, {}, runDeferred));
          });
          if (loaded.length) postProcessors.push(loaded);
        });
      }
      builds.push({
        name,
        index: i,
        ...(typeof b.description === "string" ? { description: b.description } : {}),
        sources: srcList,
        provisioners,
        ...(errorCleanupProvisioner ? { errorCleanupProvisioner } : {}),
        postProcessors,
      });
    });
  }

  const secrets: string[] = [];
  for (const v of Object.values(variables)) if (v.sensitive) collectStrings(v.value, secrets);
  for (const d of Object.values(decls))
    if (isMap(d) && d.sensitive === true) collectStrings(d.default, secrets);
  throwIfErrors(diags, opts.file, secrets);
  return {
    file,
    dir,
    src,
    variables,
    locals,
    sources,
    data,
    builds,
    plugins: [...used.values()].filter(Boolean),
    secrets,
    warnings: diags.filter((d) => d.severity === "warning"),
  };
}

/** True when some expression in `value` is held back by `hold`. */
function hasMissing(value: unknown, hold: (t: Template) => boolean): boolean {
  if (typeof value === "string") {
    if (!value.includes("${{")) return false;
    try {
      return hold(parseTemplate(value));
    } catch {
      return false;
    }
  }
  if (Array.isArray(value)) return value.some((v) => hasMissing(v, hold));
  if (value && typeof value === "object") return Object.values(value).some((v) => hasMissing(v, hold));
  return false;
}

function collectStrings(v: unknown, out: string[]): void {
  if (typeof v === "string") {
    if (v.length > 0) out.push(v);
  } else if (typeof v === "number") out.push(String(v));
  else if (Array.isArray(v)) for (const x of v) collectStrings(x, out);
  else if (v && typeof v === "object") for (const x of Object.values(v)) collectStrings(x, out);
}

/** The schema a component's options are checked against: the plugin's plus the common keys. */
const relaxed = new WeakMap<JsonSchema, JsonSchema>();
/** The same schema with nothing required (for per-source overrides). */
function withoutRequired(schema: JsonSchema): JsonSchema {
  let out = relaxed.get(schema);
  if (!out) {
    out = { ...schema, required: [] };
    relaxed.set(schema, out);
  }
  return out;
}

const optionSchemas = new Map<string, WeakMap<JsonSchema, JsonSchema>>();

export function optionSchema(kind: Kind, schema: JsonSchema): JsonSchema {
  let byKind = optionSchemas.get(kind);
  if (!byKind) {
    byKind = new WeakMap();
    optionSchemas.set(kind, byKind);
  }
  let out = byKind.get(schema);
  if (!out) {
    out = buildOptionSchema(kind, schema);
    byKind.set(schema, out);
  }
  return out;
}

function buildOptionSchema(kind: Kind, schema: JsonSchema): JsonSchema {
  const common =
    kind === "provisioner"
      ? PROVISIONER_COMMON
      : kind === "post-processor"
        ? POST_PROCESSOR_COMMON
        : { type: { type: "string" } };
  const own = (schema.properties as Record<string, JsonSchema> | undefined) ?? {};
  return { ...schema, type: "object", properties: { ...own, ...common }, additionalProperties: false };
}

/** Topological order of locals; cycles and unknown locals are reported. */
function orderLocals(
  localsRaw: Record<string, unknown>,
  src: SourceFile,
  diags: Diagnostic[],
): { order: string[]; cyclic: Set<string> } {
  const deps = new Map<string, Set<string>>();
  for (const [name, value] of Object.entries(localsRaw)) {
    const set = new Set<string>();
    const scan = (v: unknown, rel: PathSegment[]) => {
      if (typeof v === "string" && v.includes("${{")) {
        const t = parseAt(v, src, ["locals", name, ...rel], []);
        if (!t) return;
        for (const r of references(t))
          if (r.root === "local" && r.member && Object.hasOwn(localsRaw, r.member)) set.add(r.member);
      } else if (Array.isArray(v)) {
        for (const [i, x] of v.entries()) scan(x, [...rel, i]);
      } else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) scan(x, [...rel, k]);
    };
    scan(value, []);
    deps.set(name, set);
  }
  const order: string[] = [];
  const state = new Map<string, "visiting" | "done">();
  const reported = new Set<string>();
  const cyclic = new Set<string>();
  const report = (name: string, stack: string[]) => {
    const cycle = [...stack.slice(stack.indexOf(name)), name];
    for (const c of cycle) cyclic.add(c);
    const key = [...cycle].sort().join(",");
    if (reported.has(key)) return;
    reported.add(key);
    diags.push(
      diagnostic(
        "KILN_LOCAL_CYCLE",
        `locals refer to each other in a cycle: ${cycle.map((c) => `local.${c}`).join(" → ")}`,
        {
          path: `locals.${name}`,
          pos: positionOf(src, ["locals", name], "key"),
          hint: "Break the cycle: compute one of them from variables only.",
        },
      ),
    );
  };
  // Depth-first, with an explicit stack: a chain of thousands of locals must not overflow.
  for (const root of deps.keys()) {
    if (state.has(root)) continue;
    const path: string[] = [root];
    const iters: Array<Iterator<string>> = [(deps.get(root) ?? new Set<string>()).values()];
    state.set(root, "visiting");
    while (path.length > 0) {
      const next = (iters[iters.length - 1] as Iterator<string>).next();
      if (next.done) {
        const name = path.pop() as string;
        iters.pop();
        state.set(name, "done");
        order.push(name);
        continue;
      }
      const d = next.value;
      const s = state.get(d);
      if (s === "done") continue;
      if (s === "visiting") {
        report(d, path);
        continue;
      }
      state.set(d, "visiting");
      path.push(d);
      iters.push((deps.get(d) ?? new Set<string>()).values());
    }
  }
  return { order, cyclic };
}

export { exprDiagnostic };
