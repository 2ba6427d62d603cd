/** Loading a plugin's code — only when a build actually runs one of its components. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { KilnError } from "../errors.js";
import { PLUGIN_API_VERSION, type Plugin } from "../plugin.js";
import type { PluginPackage, ResolvedComponent } from "./resolve.js";

const modules = new Map<string, Promise<Plugin>>();

function entryOf(dir: string): string {
  const json = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as {
    exports?: unknown;
    main?: string;
  };
  const dot =
    typeof json.exports === "object" && json.exports !== null
      ? (json.exports as Record<string, unknown>)["."]
      : json.exports;
  const pick = (e: unknown): string | undefined => {
    if (typeof e === "string") return e;
    if (e && typeof e === "object") {
      const o = e as Record<string, unknown>;
      return pick(o.import) ?? pick(o.node) ?? pick(o.default);
    }
    return undefined;
  };
  return pick(dot) ?? json.main ?? "index.js";
}

/** Import a plugin package and check its default export is a kiln plugin. */
export function loadPlugin(pkg: PluginPackage): Promise<Plugin> {
  let p = modules.get(pkg.dir);
  if (!p) {
    p = (async () => {
      let mod: { default?: Plugin };
      try {
        mod = (await import(pathToFileURL(join(pkg.dir, entryOf(pkg.dir))).href)) as { default?: Plugin };
      } catch (cause) {
        throw new KilnError(
          "KILN_PLUGIN_MALFORMED",
          `${pkg.name}@${pkg.version} could not be loaded: ${(cause as Error).message}`,
          {
            cause,
            hint: `Reinstall it: npm install ${pkg.name}@${pkg.version}`,
          },
        );
      }
      const plugin = mod.default;
      if (!plugin || plugin.kilnApi !== PLUGIN_API_VERSION || typeof plugin.get !== "function") {
        throw new KilnError(
          "KILN_PLUGIN_MALFORMED",
          `${pkg.name}@${pkg.version} does not export a kiln plugin (definePlugin) as its default`,
        );
      }
      return plugin;
    })();
    modules.set(pkg.dir, p);
  }
  return p;
}

/** Load the implementation of a resolved component: import its package, call create(). */
export async function createRuntime<T>(resolved: ResolvedComponent): Promise<T> {
  const plugin = await loadPlugin(resolved.pkg);
  const component = plugin.get(resolved.kind, resolved.type);
  if (!component) {
    throw new KilnError(
      "KILN_PLUGIN_TYPE_MISSING",
      `${resolved.pkg.name}@${resolved.pkg.version} declares the ${resolved.kind} "${resolved.type}" in package.json but its code does not define it`,
    );
  }
  return (await component.create()) as T;
}
