/**
 * The editor schema kiln writes: the base schema composed with the options of every type a
 * build file can use here — the standard set, the packages its `plugins:` map pins, and the
 * types it uses — each from the installed package when there is one, else (for the standard
 * set) from the options this kiln was built with (dist/standard-options.json, written by
 * scripts/gen-schema.mjs, which also writes the schema.json that ships in the package).
 */
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import {
  type ComposedComponent,
  composeSchema,
  isKilnError,
  type JsonSchema,
  KIND_KEY,
  KINDS,
  type Kind,
  loadStructure,
  type PluginManifest,
  PluginResolver,
  parsePackageSpec,
  type RawFile,
  walkComponents,
} from "@kiln/core";
import { CLI_DIR } from "../own.js";
import { resolverOptions } from "../shared.js";
import { STANDARD_PLUGINS } from "../standard.js";
import { EDITOR_SCHEMA_URL } from "./url.js";

/** One standard type's options as this kiln was built with them. */
export interface StandardOptions extends ComposedComponent {
  package: string;
  version: string;
}

export const STANDARD_OPTIONS_FILE = "dist/standard-options.json";

let bundled: StandardOptions[] | undefined;
/** The standard set's options as built (none in a checkout that was not built). */
export function bundledStandardOptions(): StandardOptions[] {
  if (!bundled) {
    try {
      bundled = JSON.parse(readFileSync(join(CLI_DIR, STANDARD_OPTIONS_FILE), "utf8")) as StandardOptions[];
    } catch {
      bundled = [];
    }
  }
  return bundled;
}

const DESCRIPTION =
  "A kiln build file (https://github.com/kiln-build/kiln): sources (a builder and its options), builds, variables. " +
  "Every typed value may also be a ${{ … }} expression.";

/**
 * The standard types to list as known: those with options here, and those of a package this kiln
 * has no options of at all (not built with it: nothing says the type is wrong). A type the set
 * names but whose package, as built, does not serve it is left out, as `kiln validate` refuses it.
 */
function knownStandard(options: readonly StandardOptions[]): Partial<Record<Kind, Record<string, string>>> {
  const served = new Set(options.map((o) => `${o.kind}\u0000${o.type}`));
  const packages = new Set(options.map((o) => o.package));
  const known: Partial<Record<Kind, Record<string, string>>> = {};
  for (const kind of KINDS) {
    for (const [type, pkg] of Object.entries(STANDARD_PLUGINS[kind] ?? {})) {
      if (!served.has(`${kind}\u0000${type}`) && packages.has(pkg)) continue;
      known[kind] ??= {};
      (known[kind] as Record<string, string>)[type] = pkg;
    }
  }
  return known;
}

/** The schema that ships in @kiln/cli: the standard set's options as built. */
export function shippedSchema(options: readonly StandardOptions[]): JsonSchema {
  return composeSchema(
    options.map(({ kind, type, schema, package: pkg }) => ({ kind, type, schema, package: pkg })),
    { known: knownStandard(options), id: EDITOR_SCHEMA_URL, description: DESCRIPTION },
  );
}

const RANK: Record<Kind, number> = { builder: 0, datasource: 1, provisioner: 2, "post-processor": 3 };

export interface FileSchema {
  schema: JsonSchema;
  /** The types whose options it holds, as "kind type (package@version)". */
  components: string[];
}

/**
 * The schema for the build file `file` (or, without one, for a project in `dir`). `warn` hears
 * about types the file uses that nothing here serves: they are left out, and flagged in the editor.
 */
export function schemaFor(file: string | undefined, warn: (line: string) => void): FileSchema {
  const raw: RawFile = file ? loadStructure(file).raw : {};
  const dir = file ? dirname(resolve(file)) : process.cwd();
  const pins = raw.plugins !== null && typeof raw.plugins === "object" ? raw.plugins : {};
  const resolver = new PluginResolver({
    fromDir: dir,
    ...resolverOptions(dir),
    plugins: pins as Record<string, string>,
  });
  const known: Partial<Record<Kind, Record<string, string>>> = {};
  const add = (kind: Kind, type: string, pkg: string) => {
    known[kind] ??= {};
    const m = known[kind];
    if (!Object.hasOwn(m, type)) m[type] = pkg;
  };
  for (const kind of KINDS)
    for (const [type, pkg] of Object.entries(STANDARD_PLUGINS[kind] ?? {})) add(kind, type, pkg);
  for (const spec of Object.values(pins)) {
    if (typeof spec !== "string") continue;
    const { name, range } = parsePackageSpec(spec);
    try {
      const pkg = resolver.loadPackage(name, range);
      for (const kind of KINDS) {
        const types = pkg?.manifest[KIND_KEY[kind] as keyof PluginManifest];
        if (Array.isArray(types)) for (const type of types) add(kind, type, name);
      }
    } catch {
      // not installed, or broken: its types are known by use only
    }
  }
  const used = new Set<string>();
  for (const c of walkComponents(raw)) if (c.type !== undefined) used.add(`${c.kind}\u0000${c.type}`);
  const wanted = new Set<string>(used);
  for (const kind of KINDS)
    for (const type of Object.keys(known[kind] ?? {})) wanted.add(`${kind}\u0000${type}`);
  const components: ComposedComponent[] = [];
  const described: string[] = [];
  const fallback = new Map(bundledStandardOptions().map((o) => [`${o.kind}\u0000${o.type}`, o]));
  const ordered = [...wanted]
    .map((k) => k.split("\u0000") as [Kind, string])
    .sort(([ka, ta], [kb, tb]) => RANK[ka] - RANK[kb] || ta.localeCompare(tb));
  for (const [kind, type] of ordered) {
    const key = `${kind}\u0000${type}`;
    try {
      const r = resolver.resolve(kind, type);
      components.push({ kind, type, schema: r.schema, package: r.pkg.name });
      described.push(`${kind} ${type} (${r.pkg.name}@${r.pkg.version})`);
    } catch (err) {
      if (!isKilnError(err)) throw err;
      const std = fallback.get(key);
      if (std) {
        components.push(std);
        described.push(`${kind} ${type} (${std.package}@${std.version}, as built into this kiln)`);
      } else if (used.has(key)) {
        warn(`${err.message} (its options are left out)`);
      }
    }
  }
  return {
    schema: composeSchema(components, { known, description: DESCRIPTION }),
    components: described,
  };
}
