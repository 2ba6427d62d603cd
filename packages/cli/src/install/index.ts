/**
 * Installing the plugin packages a build file needs into the project plugin folder
 * (`<build file folder>/.kiln/plugins/`), through the user's own npm, with kiln.lock.
 * Used by `kiln init`, `kiln build` (install what is missing first) and `kiln plugins`.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import {
  coreVersion,
  type Diagnostic,
  isKilnError,
  KIND_KEY,
  KilnError,
  type Kind,
  loadStructure,
  type PluginPackage,
  PluginResolver,
  parsePackageSpec,
  positionOf,
  type RawFile,
  type Structure,
  suggest,
  walkComponents,
} from "@kiln/core";
import { STANDARD_PLUGINS } from "../standard.js";
import {
  canonical,
  folderMatchesLock,
  integrities,
  type KilnLock,
  LOCK_NAME,
  LOCK_VERSION,
  type LockedPlugin,
  type NpmLock,
  pluginFolder,
  prepareFolder,
  readFolderManifest,
  readJson,
  readLock,
  writeFolderManifest,
  writeLock,
} from "./lock.js";
import { installFlags, NPM_FLAGS, npmErrorCode, npmFailure, runNpm } from "./npm.js";

export { LOCK_NAME, pluginFolder, readLock } from "./lock.js";

export interface UsedType {
  kind: Kind;
  type: string;
  /** Where it is used first, e.g. ["sources", "ubuntu"]. */
  path: (string | number)[];
}

const isMap = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

/** Every (kind, type) a build file uses, in file order, each once. */
export function usedTypes(raw: RawFile): UsedType[] {
  const out = new Map<string, UsedType>();
  for (const c of walkComponents(raw)) {
    if (c.type === undefined || out.has(`${c.kind}:${c.type}`)) continue;
    out.set(`${c.kind}:${c.type}`, { kind: c.kind, type: c.type, path: c.path });
  }
  return [...out.values()];
}

export interface EnsureOptions {
  /** The build file. */
  file: string;
  /** The file already parsed by `loadStructure` (then it is not read again). */
  structure?: Structure;
  /** `init` writes/refreshes the lock and reports; `build` only installs what is missing. */
  mode: "init" | "build";
  /** Move every plugin to the newest version its range allows. */
  upgrade?: boolean;
  /** Never run npm: refuse with the command to run instead. */
  noInstall?: boolean;
  /** In CI: restoring from kiln.lock is fine; anything not in the lock is refused. */
  ci?: boolean;
  /** Lines for the user (stderr). */
  log: (line: string) => void;
  /** More folders the resolver looks in (the CLI's own install). */
  searchDirs?: string[];
  /** Let npm run the packages' lifecycle scripts (off by default: --ignore-scripts). */
  allowScripts?: boolean;
}

export interface EnsureResult {
  /** npm commands run. */
  npmRuns: number;
  /** Packages installed or changed (name@version). */
  installed: string[];
  /** Type → package table after installing. */
  served: { kind: Kind; type: string; name: string; version: string; dir: string; inFolder: boolean }[];
  lock?: KilnLock;
}

/** Is CI=true (or any non-empty, non-false CI)? */
export function isCI(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env.CI;
  return v !== undefined && v !== "" && v !== "0" && v.toLowerCase() !== "false";
}

function initCommand(file: string): string {
  const rel = relative(process.cwd(), file) || file;
  return `npx @kiln/cli init ${/\s/.test(rel) ? JSON.stringify(rel) : rel}`;
}

const describeType = (t: UsedType) => `${t.kind} "${t.type}"`;

export async function ensurePlugins(opts: EnsureOptions): Promise<EnsureResult> {
  const file = resolve(opts.file);
  const dir = dirname(file);
  const folder = pluginFolder(dir);
  const core = coreVersion();
  const result: EnsureResult = { npmRuns: 0, installed: [], served: [] };
  const { src, raw, diags } = opts.structure ?? loadStructure(file);
  const structural = diags.filter((d) => d.severity === "error");
  if (structural.length) {
    if (opts.mode === "build") return result; // the loader reports them with everything else
    throw new KilnError(structural[0]?.code ?? "KILN_SCHEMA", `${file}: ${structural.length} problem(s)`, {
      diagnostics: structural,
    });
  }
  const plugins: Record<string, string> = isMap(raw.plugins)
    ? Object.fromEntries(
        Object.entries(raw.plugins).filter((e): e is [string, string] => typeof e[1] === "string"),
      )
    : {};
  const needed = usedTypes(raw);
  const resolver = () =>
    new PluginResolver({
      fromDir: dir,
      searchDirs: [folder, ...(opts.searchDirs ?? [])],
      plugins,
      standard: STANDARD_PLUGINS,
    });
  const refuse = (what: string): never => {
    throw new KilnError("KILN_PLUGINS_NOT_INSTALLED", what, {
      hint: `Run: ${initCommand(file)}   (then commit ${LOCK_NAME})${opts.noInstall ? "" : opts.ci ? "\nkiln build does not install plugins that are missing from kiln.lock when CI=true." : ""}`,
    });
  };
  const npm = async (args: string[], what: string, locked?: KilnLock) => {
    prepareFolder(dir, core);
    result.npmRuns++;
    const r = await runNpm([...args, ...installFlags(opts.allowScripts)], folder);
    if (r.code !== 0) throw npmFailure(what, r, integrities(locked));
    return r;
  };

  // 1. The folder must be what kiln.lock says (restore with npm ci, which checks integrity).
  let lock = readLock(dir);
  if (lock && !folderMatchesLock(dir, lock)) {
    const names = Object.entries(lock.plugins).map(([n, p]) => `${n}@${p.version}`);
    if (opts.noInstall)
      refuse(
        `the plugins in ${LOCK_NAME} are not installed (${names.join(", ") || "none"}) and --no-install was given`,
      );
    opts.log(`Installing plugins from ${LOCK_NAME}: ${names.join(", ")}`);
    prepareFolder(dir, core);
    const m = readFolderManifest(folder);
    m.dependencies = { ...(lock.npm.packages?.[""]?.dependencies ?? {}) };
    writeFolderManifest(folder, m);
    writeFileSync(join(folder, "package-lock.json"), `${JSON.stringify(lock.npm, null, 2)}\n`);
    await npm(["ci"], `restoring the plugins of ${LOCK_NAME} (npm ci)`, lock);
    result.installed.push(...names);
  }

  const installedVersion = (name: string) =>
    readJson<{ version?: string }>(join(folder, "node_modules", name, "package.json"))?.version;
  const install = async (specs: string[], why: string) => {
    if (specs.length === 0) return;
    if (opts.noInstall || (opts.ci && opts.mode === "build")) {
      refuse(
        `${why} are not installed${lock ? ` and not in ${LOCK_NAME}` : ""}: ${specs.join(", ")}${opts.noInstall ? " (--no-install)" : " (CI=true)"}`,
      );
    }
    const before = new Map(
      specs.map((s) => [parsePackageSpec(s).name, installedVersion(parsePackageSpec(s).name)]),
    );
    opts.log(
      `Installing ${why}: ${specs.join(", ")} (npm install in ${relative(process.cwd(), folder) || folder})`,
    );
    await npm(["install", "--save", ...specs], `npm install ${specs.join(" ")}`, lock);
    for (const [name, old] of before) {
      const now = installedVersion(name);
      if (now && now !== old) result.installed.push(`${name}@${now}`);
    }
    opts.log(`Installed ${[...before.keys()].map((n) => `${n}@${installedVersion(n) ?? "?"}`).join(", ")}`);
  };

  // 2. The plugins: map's packages (they may provide types under other names, so they come first).
  const coreChanged = lock !== undefined && lock.core !== core;
  const mapSpecs: string[] = [];
  {
    const r = resolver();
    for (const spec of Object.values(plugins)) {
      const { name, range } = parsePackageSpec(spec);
      try {
        if (!r.loadPackage(name, range)) mapSpecs.push(spec);
      } catch (err) {
        if (isKilnError(err, "KILN_PLUGIN_INCOMPATIBLE") && range && / asks for /.test(err.message))
          mapSpecs.push(spec);
        // other faults are reported below, where the package is used
      }
    }
  }
  if (coreChanged) {
    // The plugins import @kiln/core from the folder: keep it the same version as this kiln's.
    await install(
      [`@kiln/core@${core}`],
      `@kiln/core ${core} for the plugins (${LOCK_NAME} has ${lock?.core})`,
    );
  }
  await install([...new Set(mapSpecs)], "plugins named in the build file");

  // 3. Types nothing installed provides: the standard set, then the first convention name that exists.
  const missing: { t: UsedType; spec?: string }[] = [];
  {
    const r = resolver();
    for (const t of needed) {
      try {
        r.resolve(t.kind, t.type);
      } catch (err) {
        if (!isKilnError(err)) throw err;
        if (err.code === "KILN_PLUGIN_NOT_FOUND") missing.push({ t });
      }
    }
  }
  const problems: Diagnostic[] = [];
  for (const m of missing) {
    const std = STANDARD_PLUGINS[m.t.kind]?.[m.t.type];
    if (plugins[m.t.type]) m.spec = plugins[m.t.type];
    else if (std) m.spec = std;
    else if (opts.mode === "build") {
      // No stranger's code on a typo: build installs only what the file names or kiln ships.
      problems.push(notPinned(m.t, src, plugins, initCommand(file)));
    } else {
      for (const name of conventionNames(m.t)) {
        result.npmRuns++;
        if (await existsOnRegistry(name, prepareFolder(dir, core))) {
          m.spec = name;
          opts.log(
            `The ${describeType(m.t)} is neither in the build file's plugins: nor in kiln's standard set; by the naming convention the registry has ${name}, which will be installed. To choose the package yourself, pin it: plugins: { ${m.t.type}: "${name}@<range>" }`,
          );
          break;
        }
      }
      if (!m.spec && opts.mode === "init") {
        problems.push({
          code: "KILN_PLUGIN_NOT_FOUND",
          severity: "error",
          message: `no package provides the ${describeType(m.t)}: it is not in kiln's standard set, and neither @kiln/${m.t.kind}-${m.t.type} nor kiln-${m.t.kind}-${m.t.type} exists on the registry`,
          path: [...m.t.path, "type"].join("."),
          pos: positionOf(src, [...m.t.path, "type"]),
          hint: `Name the package that provides it in the build file: plugins: { ${m.t.type}: "<package>@<range>" }`,
        });
      }
    }
  }
  if (problems.length)
    throw new KilnError(
      problems[0]?.code ?? "KILN_PLUGIN_NOT_FOUND",
      problems[0]?.message ?? "plugin not found",
      {
        diagnostics: problems,
      },
    );
  const found = missing.filter((m) => m.spec);
  const specs = [...new Set(found.map((m) => m.spec as string))];
  await install(specs, `plugins for ${found.map((m) => describeType(m.t)).join(", ")}`);

  // 4. --upgrade: newest versions within the ranges (the plugins: map's ranges win).
  if (opts.upgrade) {
    if (opts.noInstall) refuse("--upgrade needs to run npm, but --no-install was given");
    prepareFolder(dir, core);
    const m = readFolderManifest(folder);
    for (const spec of Object.values(plugins)) {
      const { name, range } = parsePackageSpec(spec);
      if (range && m.dependencies[name]) m.dependencies[name] = range;
    }
    writeFolderManifest(folder, m);
    const before = snapshot(folder);
    opts.log("Upgrading plugins within their ranges (npm update)");
    await npm(["update", "--save"], "npm update", lock);
    const after = snapshot(folder);
    for (const [n, v] of after)
      if (before.get(n) !== v && n !== "@kiln/core") result.installed.push(`${n}@${v}`);
  }

  // 5. Check what is installed now: API, core peer range, the file's ranges. Undo installs that are refused.
  const r = resolver();
  const bad: Diagnostic[] = [];
  const badPkgs = new Set<string>();
  for (const t of needed) {
    try {
      const c = r.resolve(t.kind, t.type);
      result.served.push({
        kind: t.kind,
        type: t.type,
        name: c.pkg.name,
        version: c.pkg.version,
        dir: c.pkg.dir,
        inFolder: c.pkg.dir.startsWith(folder),
      });
    } catch (err) {
      if (!isKilnError(err)) throw err;
      const named = /^(@?[^@\s]+)@\d/.exec(err.message)?.[1];
      if (named) badPkgs.add(named);
      bad.push({
        code: err.code,
        severity: "error",
        message: err.message,
        path: [...t.path, "type"].join("."),
        pos: positionOf(src, [...t.path, "type"]),
        ...(err.hint ? { hint: err.hint } : {}),
      });
    }
  }
  if (bad.length) {
    const fresh = result.installed.map((s) => parsePackageSpec(s).name).filter((n) => badPkgs.has(n));
    if (fresh.length) {
      opts.log(`Removing what was just installed and refused: ${fresh.join(", ")}`);
      await npm(["uninstall", "--save", ...fresh], `npm uninstall ${fresh.join(" ")}`, lock);
      result.installed = result.installed.filter((s) => !fresh.includes(parsePackageSpec(s).name));
    }
    if (opts.mode === "init" || fresh.length) {
      if (result.npmRuns) result.lock = refreshLock(dir, core);
      throw new KilnError(bad[0]?.code ?? "KILN_PLUGIN_INCOMPATIBLE", bad[0]?.message ?? "plugin problem", {
        diagnostics: bad,
      });
    }
    return result; // build: the loader reports these with positions
  }

  // 6. kiln.lock from the folder's package-lock.json.
  if (result.npmRuns > 0 || (!lock && existsSync(join(folder, "package-lock.json")))) {
    result.lock = refreshLock(dir, core);
  } else if (lock) {
    result.lock = lock;
  }
  lock = result.lock;
  return result;
}

/** The packages the naming convention would pick for a type, in the order they are tried. */
const conventionNames = (t: UsedType) => [`@kiln/${t.kind}-${t.type}`, `kiln-${t.kind}-${t.type}`];

/** `kiln build` met a type that nothing installed serves and the file does not pin. */
function notPinned(
  t: UsedType,
  src: Structure["src"],
  plugins: Record<string, string>,
  init: string,
): Diagnostic {
  const known = [...Object.keys(STANDARD_PLUGINS[t.kind] ?? {}), ...Object.keys(plugins)];
  const close = suggest(t.type, known);
  const [scoped, unscoped] = conventionNames(t);
  return {
    code: "KILN_PLUGIN_NOT_PINNED",
    severity: "error",
    message: `no installed package provides the ${describeType(t)}, and kiln build installs only packages named in the build file's plugins: or in kiln's standard set — not ${scoped} or ${unscoped}, which the naming convention would pick`,
    path: [...t.path, "type"].join("."),
    pos: positionOf(src, [...t.path, "type"]),
    hint: `${close ? `Did you mean "${close}"? ` : ""}To use a plugin package, pin it: plugins: { ${t.type}: "<package>@<range>" }, or run ${init}, which looks it up by the convention and says what it installs.`,
  };
}

function snapshot(folder: string): Map<string, string> {
  const m = readFolderManifest(folder);
  const out = new Map<string, string>();
  for (const n of Object.keys(m.dependencies)) {
    const v = readJson<{ version?: string }>(join(folder, "node_modules", n, "package.json"))?.version;
    if (v) out.set(n, v);
  }
  return out;
}

/** Write kiln.lock from the plugin folder (its package.json and npm's package-lock.json). */
export function refreshLock(projectDir: string, core = coreVersion()): KilnLock | undefined {
  const folder = pluginFolder(projectDir);
  const npmLock = readJson<NpmLock>(join(folder, "package-lock.json"));
  if (!npmLock) return undefined;
  const m = readFolderManifest(folder);
  const plugins: Record<string, LockedPlugin> = {};
  for (const [name, range] of Object.entries(m.dependencies).sort(([a], [b]) => a.localeCompare(b))) {
    if (name === "@kiln/core") continue;
    const entry = npmLock.packages?.[`node_modules/${name}`];
    const pj = readJson<{ version?: string; kiln?: Record<string, unknown> }>(
      join(folder, "node_modules", name, "package.json"),
    );
    const provides: Record<string, string[]> = {};
    for (const key of Object.values(KIND_KEY)) {
      const list = pj?.kiln?.[key];
      if (Array.isArray(list)) provides[key] = list.map(String);
    }
    plugins[name] = {
      range,
      version: entry?.version ?? pj?.version ?? "0.0.0",
      ...(entry?.integrity ? { integrity: entry.integrity } : {}),
      ...(entry?.resolved ? { resolved: entry.resolved } : {}),
      ...(Object.keys(provides).length ? { provides } : {}),
    };
  }
  const lock: KilnLock = { kilnLockVersion: LOCK_VERSION, core, plugins, npm: npmLock };
  const old = readLock(projectDir);
  if (!old || canonical(old) !== canonical(lock)) writeLock(projectDir, lock);
  return lock;
}

/** Does `name` exist on the registry npm uses for this project? */
async function existsOnRegistry(name: string, cwd?: string): Promise<boolean> {
  const r = await runNpm(["view", name, "version", ...NPM_FLAGS], cwd ?? process.cwd());
  if (r.code === 0) return r.stdout.trim().length > 0;
  const code = npmErrorCode(r);
  if (code === "E404") return false;
  throw npmFailure(`npm view ${name}`, r);
}

/** `kiln plugins install <spec>…` / `remove <name>…` in a project folder. */
export async function installSpecs(
  projectDir: string,
  specs: string[],
  log: (l: string) => void,
  opts: { allowScripts?: boolean } = {},
): Promise<KilnLock | undefined> {
  const core = coreVersion();
  const folder = prepareFolder(projectDir, core);
  const lock = readLock(projectDir);
  log(`Installing ${specs.join(", ")} (npm install in ${relative(process.cwd(), folder) || folder})`);
  const r = await runNpm(["install", "--save", ...specs, ...installFlags(opts.allowScripts)], folder);
  if (r.code !== 0) throw npmFailure(`npm install ${specs.join(" ")}`, r, integrities(lock));
  // Refuse packages that are not kiln plugins or do not fit this kiln.
  const resolver = new PluginResolver({ fromDir: folder });
  const refused: KilnError[] = [];
  const names = specs.map((s) => parsePackageSpec(s).name);
  for (const name of names) {
    try {
      const pkg = resolver.loadPackage(name);
      if (pkg) log(`Installed ${name}@${pkg.version}${provides(pkg)}`);
    } catch (err) {
      if (!isKilnError(err)) throw err;
      refused.push(err);
    }
  }
  if (refused.length) {
    const bad = names.filter((n) => refused.some((e) => e.message.startsWith(`${n}@`)));
    await runNpm(["uninstall", "--save", ...bad, ...installFlags()], folder);
    refreshLock(projectDir, core);
    throw new KilnError(refused[0]?.code ?? "KILN_PLUGIN_INCOMPATIBLE", refused[0]?.message ?? "refused", {
      diagnostics: refused.map((e) => ({
        code: e.code,
        severity: "error" as const,
        message: e.message,
        ...(e.hint ? { hint: e.hint } : {}),
      })),
    });
  }
  return refreshLock(projectDir, core);
}

export async function removePackages(
  projectDir: string,
  names: string[],
  log: (l: string) => void,
): Promise<KilnLock | undefined> {
  const folder = pluginFolder(projectDir);
  const m = readFolderManifest(folder);
  const unknown = names.filter((n) => !(n in m.dependencies) || n === "@kiln/core");
  if (unknown.length) {
    throw new KilnError(
      "KILN_PLUGIN_NOT_FOUND",
      `not installed in ${relative(process.cwd(), folder) || folder}: ${unknown.join(", ")}`,
      {
        hint: `Installed: ${
          Object.keys(m.dependencies)
            .filter((n) => n !== "@kiln/core")
            .join(", ") || "(none)"
        }`,
      },
    );
  }
  prepareFolder(projectDir, coreVersion());
  const r = await runNpm(["uninstall", "--save", ...names, ...installFlags()], folder);
  if (r.code !== 0) throw npmFailure(`npm uninstall ${names.join(" ")}`, r);
  log(`Removed ${names.join(", ")}`);
  return refreshLock(projectDir);
}

export function provides(pkg: PluginPackage): string {
  const parts = Object.values(KIND_KEY)
    .map((k) => {
      const list = (pkg.manifest as unknown as Record<string, unknown>)[k];
      return Array.isArray(list) && list.length ? `${k}: ${list.join(", ")}` : "";
    })
    .filter(Boolean);
  return parts.length ? ` (${parts.join("; ")})` : "";
}

export function readText(file: string): string | undefined {
  return existsSync(file) ? readFileSync(file, "utf8") : undefined;
}
