/**
 * The schema of a build file for editors: the base schema plus, for every type a plugin
 * provides, that type's options; every typed value may also be a `${{ … }}` expression, and the
 * known `type:` values are listed, so a typo'd type is flagged and offered for completion.
 */
import { baseSchema, type JsonSchema, type Kind, POST_PROCESSOR_COMMON, PROVISIONER_COMMON } from "./base.js";
import { acceptExpressions } from "./expressions.js";

export interface ComposedComponent {
  kind: Kind;
  type: string;
  /** The type's options schema, as in its plugin's schema.json. */
  schema: JsonSchema;
  /** The package serving it (shown when completing `type:`). */
  package?: string;
}

export interface ComposeOptions {
  /**
   * Every type the schema should know, per kind, with the package serving it: the standard set
   * and the file's plugins. A known type without a component here is accepted with any options.
   */
  known?: Partial<Record<Kind, Record<string, string>>>;
  /** The result's $id (where it is published); none by default. */
  id?: string;
  /** The result's description. */
  description?: string;
}

/** Where each kind's components sit in the base schema's definitions. */
const TARGET: Record<Kind, "source" | "data_source" | "provisioner" | "post_processor"> = {
  builder: "source",
  datasource: "data_source",
  provisioner: "provisioner",
  "post-processor": "post_processor",
};

const KIND_WORD: Record<Kind, string> = {
  builder: "builder",
  datasource: "data source",
  provisioner: "provisioner",
  "post-processor": "post-processor",
};

const TYPE_TEXT: Record<Kind, string> = {
  builder: "The builder type",
  datasource: "The data source type",
  provisioner: "The provisioner type",
  "post-processor": "The post-processor type",
};

function commonOf(kind: Kind): Record<string, JsonSchema> {
  return kind === "provisioner"
    ? PROVISIONER_COMMON
    : kind === "post-processor"
      ? POST_PROCESSOR_COMMON
      : { type: { type: "string" } };
}

/** The keys every provisioner or post-processor takes, each also taking an expression (not `type`). */
function commonWithExpressions(kind: Kind): Record<string, JsonSchema> {
  const out: Record<string, JsonSchema> = {};
  for (const [k, s] of Object.entries(commonOf(kind))) out[k] = k === "type" ? s : acceptExpressions(s);
  return out;
}

/** The full schema of build files for editors (see the file's comment). */
export function composeSchema(components: ComposedComponent[], opts: ComposeOptions = {}): JsonSchema {
  const schema = baseSchema();
  delete schema.$id;
  if (opts.id) schema.$id = opts.id;
  if (opts.description) schema.description = opts.description;
  const defs = schema.definitions as Record<string, JsonSchema>;
  const branches: Record<string, JsonSchema[]> = {
    source: [],
    data_source: [],
    provisioner: [],
    post_processor: [],
  };
  const known: Record<string, Map<string, string | undefined>> = {
    source: new Map(),
    data_source: new Map(),
    provisioner: new Map(),
    post_processor: new Map(),
  };
  for (const [kind, types] of Object.entries(opts.known ?? {}) as Array<[Kind, Record<string, string>]>) {
    for (const [type, pkg] of Object.entries(types)) known[TARGET[kind]]?.set(type, pkg);
  }
  for (const kind of ["provisioner", "post-processor"] as const) {
    (defs[TARGET[kind]] as JsonSchema).properties = commonWithExpressions(kind);
  }
  for (const c of components) {
    const target = TARGET[c.kind];
    const defName = `${c.kind}:${c.type}`;
    // The options map itself is not a value that could be an expression: leave its type out.
    const { type: _object, ...rest } = c.schema;
    const options = acceptExpressions({ ...rest, properties: rest.properties ?? {} });
    const properties: Record<string, JsonSchema> = {
      ...commonWithExpressions(c.kind),
      ...(options.properties as Record<string, JsonSchema>),
      type: { type: "string", description: `${TYPE_TEXT[c.kind]}.` },
    };
    if (c.kind === "provisioner") {
      // Per-source overrides take the same options, none of them required.
      const partial = Object.fromEntries(Object.entries(properties).filter(([k]) => k !== "override"));
      defs[`${defName}:override`] = {
        title: `${c.type} options for one source`,
        type: "object",
        description: `${c.type} options for one source, replacing the provisioner's own.`,
        properties: partial,
        additionalProperties: false,
      };
      properties.override = acceptExpressions({
        ...(PROVISIONER_COMMON.override as JsonSchema),
        additionalProperties: { $ref: `#/definitions/${defName}:override` },
      });
    }
    defs[defName] = {
      title: `${c.type} ${KIND_WORD[c.kind]} options`,
      ...options,
      type: "object",
      properties,
      additionalProperties: false,
    };
    branches[target]?.push({
      if: { properties: { type: { const: c.type } }, required: ["type"] },
      then: { $ref: `#/definitions/${defName}` },
    });
    if (!known[target]?.has(c.type) || c.package) known[target]?.set(c.type, c.package);
  }
  for (const [def, list] of Object.entries(branches)) {
    const d = defs[def] as JsonSchema;
    const types = [...(known[def]?.entries() ?? [])].sort(([a], [b]) => a.localeCompare(b));
    if (types.length > 0) {
      const props = d.properties as Record<string, JsonSchema>;
      const base = props.type as JsonSchema;
      props.type = {
        type: "string",
        description: `${String(base.description ?? "")} Known here: ${types.map(([t]) => t).join(", ")}. A type from another plugin: pin its package under plugins: and run \`kiln schema --write\`.`,
        enum: types.map(([t]) => t),
        markdownEnumDescriptions: types.map(([, pkg]) => (pkg ? `from \`${pkg}\`` : "")),
      };
    }
    if (list.length > 0) defs[def] = { ...d, allOf: list };
  }
  return schema;
}
