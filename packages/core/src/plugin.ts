/**
 * The plugin API. A plugin package's default export is `definePlugin({...})`; each component
 * carries its JSON Schema (also shipped as the package's `./schema.json`, so validation never
 * loads plugin code) and a `create()` that loads the heavy part lazily.
 */
import type {
  BuilderRuntime,
  DataSourceRuntime,
  PostProcessorRuntime,
  ProvisionerRuntime,
} from "./engine/types.js";
import type { Kind } from "./schema/base.js";
import { type JsonSchema, KIND_KEY } from "./schema/base.js";

export const PLUGIN_API_VERSION = "1";

interface ComponentBase<K extends Kind, Impl> {
  kind: K;
  /** The `type:` users write, e.g. `qemu`. */
  type: string;
  description?: string;
  /** JSON Schema of the component's options (an object schema; `additionalProperties: false`). */
  schema: JsonSchema;
  /** Load the implementation. Called only when a build actually runs the component. */
  create: () => Impl | Promise<Impl>;
}

// The run-time contracts are filled in by the engine; plugins implement what it calls.
export type BuilderComponent<Impl = unknown> = ComponentBase<"builder", Impl>;
export type ProvisionerComponent<Impl = unknown> = ComponentBase<"provisioner", Impl>;
export type PostProcessorComponent<Impl = unknown> = ComponentBase<"post-processor", Impl>;
export type DataSourceComponent<Impl = unknown> = ComponentBase<"datasource", Impl>;
export type AnyComponent =
  | BuilderComponent
  | ProvisionerComponent
  | PostProcessorComponent
  | DataSourceComponent;

/**
 * A component's options schema. A schema that carries its options' type (a TypeBox schema made
 * with the SDK's `options({...})` does: its `static`) types the runtime `create()` must return.
 */
export interface ComponentSchema {
  readonly type: unknown;
}

/** The options type a schema carries (TypeBox's `static`), or plain records for a plain JSON Schema. */
// biome-ignore lint/suspicious/noExplicitAny: a plain JSON Schema says nothing about its options' type
export type SchemaOptions<S> = S extends { readonly static: infer O } ? O : Record<string, any>;

interface ComponentDef<S, Impl> {
  type: string;
  description?: string;
  schema: S;
  create: () => Impl | Promise<Impl>;
}

export function defineBuilder<S extends ComponentSchema>(
  def: ComponentDef<S, BuilderRuntime<SchemaOptions<S>>>,
): BuilderComponent<BuilderRuntime<SchemaOptions<S>>> {
  return { kind: "builder", ...checkDef(def, "builder") };
}
export function defineProvisioner<S extends ComponentSchema>(
  def: ComponentDef<S, ProvisionerRuntime<SchemaOptions<S>>>,
): ProvisionerComponent<ProvisionerRuntime<SchemaOptions<S>>> {
  return { kind: "provisioner", ...checkDef(def, "provisioner") };
}
export function definePostProcessor<S extends ComponentSchema>(
  def: ComponentDef<S, PostProcessorRuntime<SchemaOptions<S>>>,
): PostProcessorComponent<PostProcessorRuntime<SchemaOptions<S>>> {
  return { kind: "post-processor", ...checkDef(def, "post-processor") };
}
export function defineDataSource<S extends ComponentSchema>(
  def: ComponentDef<S, DataSourceRuntime<SchemaOptions<S>>>,
): DataSourceComponent<DataSourceRuntime<SchemaOptions<S>>> {
  return { kind: "datasource", ...checkDef(def, "datasource") };
}

function checkDef<S extends ComponentSchema, Impl>(
  def: ComponentDef<S, Impl>,
  kind: Kind,
): Omit<ComponentBase<Kind, Impl>, "kind"> {
  if (!/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/.test(def.type)) {
    throw new TypeError(`[${kind}] type "${def.type}" must be lower-case words joined by -`);
  }
  if (typeof def.create !== "function") throw new TypeError(`[${def.type}] create must be a function`);
  if (def.schema.type !== "object") throw new TypeError(`[${def.type}] schema must be an object schema`);
  // A TypeBox schema is plain JSON Schema at run time (its markers are symbols, which JSON drops).
  return { ...def, schema: def.schema as unknown as JsonSchema };
}

export interface PluginDefinition {
  /** The npm package name, for messages. */
  name: string;
  builders?: BuilderComponent<unknown>[];
  provisioners?: ProvisionerComponent<unknown>[];
  postProcessors?: PostProcessorComponent<unknown>[];
  dataSources?: DataSourceComponent<unknown>[];
}

export interface Plugin extends Required<PluginDefinition> {
  kilnApi: typeof PLUGIN_API_VERSION;
  /** Find a component by kind and type. */
  get(kind: Kind, type: string): AnyComponent | undefined;
}

export function definePlugin(def: PluginDefinition): Plugin {
  const plugin = {
    name: def.name,
    builders: def.builders ?? [],
    provisioners: def.provisioners ?? [],
    postProcessors: def.postProcessors ?? [],
    dataSources: def.dataSources ?? [],
    kilnApi: PLUGIN_API_VERSION,
    get(kind: Kind, type: string): AnyComponent | undefined {
      return allComponents(plugin).find((c) => c.kind === kind && c.type === type);
    },
  } satisfies Plugin;
  const seen = new Set<string>();
  for (const c of allComponents(plugin)) {
    const key = `${c.kind}:${c.type}`;
    if (seen.has(key)) throw new TypeError(`[${def.name}] ${c.kind} "${c.type}" is defined twice`);
    seen.add(key);
  }
  return plugin;
}

export function allComponents(p: Required<PluginDefinition>): AnyComponent[] {
  return [...p.builders, ...p.provisioners, ...p.postProcessors, ...p.dataSources];
}

/** The content of a plugin's `schema.json`: every component's option schema, by kind and type. */
export function pluginSchemaDocument(p: Plugin): Record<string, unknown> {
  const doc: Record<string, Record<string, JsonSchema>> = {};
  for (const c of allComponents(p)) {
    const key = KIND_KEY[c.kind];
    doc[key] ??= {};
    (doc[key] as Record<string, JsonSchema>)[c.type] = c.schema;
  }
  return { kiln: { api: PLUGIN_API_VERSION }, plugin: p.name, ...doc };
}

/** The `kiln` field of a plugin's package.json, declaring what it provides without running code. */
export interface PluginManifest {
  api: string;
  builders?: string[];
  provisioners?: string[];
  "post-processors"?: string[];
  datasources?: string[];
}
