/**
 * type → package resolution, without running plugin code: read package.json `kiln` and
 * `schema.json`, check the API and the peer range on @kiln/core.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { KilnError } from "../errors.js";
import type { PluginManifest } from "../plugin.js";
import { PLUGIN_API_VERSION } from "../plugin.js";
import { type JsonSchema, KIND_KEY, type Kind } from "../schema/base.js";
import { coreVersion, satisfiesRange } from "./version.js";

/** `@kiln/builder-qemu@^1` → { name, range } */
export function parsePackageSpec(spec: string): { name: string; range?: string } {
  const at = spec.indexOf("@", spec.startsWith("@") ? 1 : 0);
  if (at <= 0) return { name: spec };
  return { name: spec.slice(0, at), range: spec.slice(at + 1) };
}

export interface PluginPackage {
  name: string;
  version: string;
  dir: string;
  manifest: PluginManifest;
  /** The package.json's peer range on @kiln/core, if any. */
  coreRange?: string;
}

export interface ResolvedComponent {
  kind: Kind;
  type: string;
  pkg: PluginPackage;
  schema: JsonSchema;
  /** How the package was chosen: "plugins" (the file's map), "standard", or "convention". */
  via: "plugins" | "standard" | "convention";
}

export interface ResolverOptions {
  /** The build file's directory: packages resolve from here first. */
  fromDir: string;
  /** Further folders to look in (a project plugin folder, the CLI's own install for the standard set). */
  searchDirs?: string[];
  /** The file's `plugins:` map, name → "package@range". */
  plugins?: Record<string, string>;
  /** Standard set: kind → type → package name. */
  standard?: Partial<Record<Kind, Record<string, string>>>;
}

const conventionNames = (kind: Kind, type: string) => [`@kiln/${kind}-${type}`, `kiln-${kind}-${type}`];

export class PluginResolver {
  private readonly pkgCache = new Map<string, PluginPackage | null>();
  private readonly schemaCache = new Map<string, Record<string, Record<string, JsonSchema>>>();

  constructor(private readonly opts: ResolverOptions) {}

  /** Find the directory of installed package `name`, or undefined. */
  findPackageDir(name: string): string | undefined {
    const roots = [this.opts.fromDir, ...(this.opts.searchDirs ?? [])];
    for (const root of roots) {
      let dir = resolve(root);
      for (;;) {
        const candidate = join(dir, "node_modules", name, "package.json");
        if (existsSync(candidate)) return dirname(candidate);
        const parent = dirname(dir);
        if (parent === dir) break;
        dir = parent;
      }
    }
    return undefined;
  }

  /** Read and check a plugin package. Throws KilnError (MALFORMED / INCOMPATIBLE); null when absent. */
  loadPackage(name: string, range?: string): PluginPackage | null {
    const key = `${name}@${range ?? ""}`;
    const cached = this.pkgCache.get(key);
    if (cached !== undefined) return cached;
    const dir = this.findPackageDir(name);
    if (!dir) {
      this.pkgCache.set(key, null);
      return null;
    }
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
    } catch (cause) {
      throw new KilnError("KILN_PLUGIN_MALFORMED", `${name}: package.json in ${dir} cannot be read`, {
        cause,
      });
    }
    const manifest = json.kiln as PluginManifest | undefined;
    const version = String(json.version ?? "0.0.0");
    if (!manifest || typeof manifest !== "object") {
      throw new KilnError(
        "KILN_PLUGIN_MALFORMED",
        `${name}@${version} is not a kiln plugin: its package.json has no "kiln" field`,
        {
          hint: `Plugin packages declare what they provide in package.json: "kiln": { "api": "${PLUGIN_API_VERSION}", "builders": [...] }.`,
        },
      );
    }
    if (String(manifest.api) !== PLUGIN_API_VERSION) {
      throw new KilnError(
        "KILN_PLUGIN_INCOMPATIBLE",
        `${name}@${version} implements kiln plugin API ${String(manifest.api)}, but this kiln speaks API ${PLUGIN_API_VERSION}`,
        {
          hint: `Install a version of ${name} built for kiln plugin API ${PLUGIN_API_VERSION}: npm install ${name}@latest`,
        },
      );
    }
    const peers = (json.peerDependencies as Record<string, string> | undefined) ?? {};
    const coreRange = peers["@kiln/core"];
    if (coreRange && !satisfiesRange(coreVersion(), coreRange)) {
      throw new KilnError(
        "KILN_PLUGIN_INCOMPATIBLE",
        `${name}@${version} needs @kiln/core ${coreRange}, but this kiln has @kiln/core ${coreVersion()}`,
        {
          hint: `Install a version of ${name} that supports @kiln/core ${coreVersion()}, or a kiln that matches ${coreRange}.`,
        },
      );
    }
    if (range && !satisfiesRange(version, range)) {
      throw new KilnError(
        "KILN_PLUGIN_INCOMPATIBLE",
        `${name}@${version} is installed, but the build file asks for ${name}@${range}`,
        {
          hint: `Run: kiln init --upgrade  (or npm install ${name}@"${range}")`,
        },
      );
    }
    for (const k of Object.values(KIND_KEY)) {
      const list = (manifest as unknown as Record<string, unknown>)[k];
      if (list !== undefined && !(Array.isArray(list) && list.every((t) => typeof t === "string"))) {
        throw new KilnError(
          "KILN_PLUGIN_MALFORMED",
          `${name}@${version}: "kiln.${k}" in its package.json must be a list of type names, not ${JSON.stringify(list)?.slice(0, 40)}`,
          { hint: `Write e.g. "${k}": ["my-type"] — or report it to the plugin's authors.` },
        );
      }
    }
    const pkg: PluginPackage = { name, version, dir, manifest, ...(coreRange ? { coreRange } : {}) };
    this.pkgCache.set(key, pkg);
    return pkg;
  }

  /** The option schema of `type` from the package's schema.json. */
  schemaOf(pkg: PluginPackage, kind: Kind, type: string): JsonSchema {
    let doc = this.schemaCache.get(pkg.dir);
    if (!doc) {
      const file = join(pkg.dir, "schema.json");
      try {
        doc = JSON.parse(readFileSync(file, "utf8")) as Record<string, Record<string, JsonSchema>>;
      } catch (cause) {
        throw new KilnError(
          "KILN_PLUGIN_MALFORMED",
          `${pkg.name}@${pkg.version} has no readable schema.json`,
          {
            cause,
            hint: "A plugin ships the JSON Schema of its options as ./schema.json (generated from its definePlugin).",
          },
        );
      }
      this.schemaCache.set(pkg.dir, doc);
    }
    const schema = ownEntry(ownEntry(doc, KIND_KEY[kind]), type) as JsonSchema | undefined;
    if (!schema || typeof schema !== "object") {
      throw new KilnError(
        "KILN_PLUGIN_MALFORMED",
        `${pkg.name}@${pkg.version} declares ${kind} "${type}" but its schema.json has no schema for it`,
      );
    }
    return schema;
  }

  /** Whether the installed package `name` says in package.json that it provides `type`, whatever its other faults. */
  private declares(name: string, kind: Kind, type: string): boolean {
    const dir = this.findPackageDir(name);
    if (!dir) return false;
    try {
      const list = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"))?.kiln?.[KIND_KEY[kind]];
      return Array.isArray(list) && list.includes(type);
    } catch {
      return false;
    }
  }

  private provides(pkg: PluginPackage, kind: Kind, type: string): boolean {
    const list = pkg.manifest[KIND_KEY[kind] as keyof PluginManifest];
    return Array.isArray(list) && list.includes(type);
  }

  /** Resolve `type` of `kind` to a package and its schema, or throw a KilnError with a hint. */
  resolve(kind: Kind, type: string): ResolvedComponent {
    const tried: string[] = [];
    // 1. the file's plugins: map — an entry named like the type, then any entry that provides it
    const entries = Object.entries(this.opts.plugins ?? {});
    const ordered = [...entries.filter(([k]) => k === type), ...entries.filter(([k]) => k !== type)];
    for (const [key, spec] of ordered) {
      const { name, range } = parsePackageSpec(spec);
      let pkg: PluginPackage | null;
      try {
        pkg = this.loadPackage(name, range);
      } catch (err) {
        // A broken or mismatched package is this type's problem only if it is meant to provide it.
        if (key === type || this.declares(name, kind, type)) throw err;
        continue;
      }
      if (!pkg) {
        if (key === type) throw notFound(kind, type, [name], spec);
        tried.push(name);
        continue;
      }
      if (this.provides(pkg, kind, type))
        return { kind, type, pkg, schema: this.schemaOf(pkg, kind, type), via: "plugins" };
      if (key === type) throw typeMissing(pkg, kind, type);
    }
    // 2. the standard set
    const std = ownEntry(ownEntry(this.opts.standard, kind), type) as string | undefined;
    if (std) {
      const pkg = this.loadPackage(std);
      if (pkg && this.provides(pkg, kind, type))
        return { kind, type, pkg, schema: this.schemaOf(pkg, kind, type), via: "standard" };
      if (pkg) throw typeMissing(pkg, kind, type);
      tried.push(std);
    }
    // 3. conventions
    for (const name of conventionNames(kind, type)) {
      const pkg = this.loadPackage(name);
      if (!pkg) {
        tried.push(name);
        continue;
      }
      if (this.provides(pkg, kind, type))
        return { kind, type, pkg, schema: this.schemaOf(pkg, kind, type), via: "convention" };
      throw typeMissing(pkg, kind, type);
    }
    throw notFound(kind, type, tried, std ?? conventionNames(kind, type)[0] ?? type);
  }

  /** Every type of `kind` that the installed, known packages provide (for "did you mean"). */
  knownTypes(kind: Kind): string[] {
    const out = new Set<string>(Object.keys(this.opts.standard?.[kind] ?? {}));
    for (const spec of Object.values(this.opts.plugins ?? {})) {
      try {
        const pkg = this.loadPackage(parsePackageSpec(spec).name);
        for (const t of (pkg?.manifest[KIND_KEY[kind] as keyof PluginManifest] as string[] | undefined) ?? [])
          out.add(t);
      } catch {
        // reported where the package is used
      }
    }
    return [...out];
  }
}

/** `o[key]` when `o` is a map holding its own `key`: never an inherited `toString` or `__proto__`. */
function ownEntry(o: unknown, key: string): unknown {
  if (o === null || typeof o !== "object" || !Object.hasOwn(o, key)) return undefined;
  return (o as Record<string, unknown>)[key];
}

function notFound(kind: Kind, type: string, tried: string[], install: string): KilnError {
  return new KilnError(
    "KILN_PLUGIN_NOT_FOUND",
    `no plugin provides the ${kind} "${type}" (looked for ${[...new Set(tried)].join(", ")})`,
    {
      hint: `Run \`kiln init\` to install the plugins this file uses, or install this one: kiln plugins install ${install}   (or npm install ${install})`,
    },
  );
}

function typeMissing(pkg: PluginPackage, kind: Kind, type: string): KilnError {
  const list = (pkg.manifest[KIND_KEY[kind] as keyof PluginManifest] as string[] | undefined) ?? [];
  return new KilnError(
    "KILN_PLUGIN_TYPE_MISSING",
    `${pkg.name}@${pkg.version} does not provide the ${kind} "${type}"`,
    {
      hint: list.length ? `It provides: ${list.join(", ")}` : `It provides no ${KIND_KEY[kind]}.`,
    },
  );
}
