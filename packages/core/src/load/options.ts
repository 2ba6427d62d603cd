/** Checking a component's options against its plugin's schema plus the keys every component has. */
import type { Diagnostic } from "../errors.js";
import type { ResolvedComponent } from "../plugins/resolve.js";
import { type JsonSchema, type Kind, POST_PROCESSOR_COMMON, PROVISIONER_COMMON } from "../schema/base.js";
import { validateValue } from "../schema/validate.js";
import { isUnder } from "./expand.js";
import type { PathSegment, SourceFile } from "./parse.js";

const isMap = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

/** Check `options` (evaluated; `deferred` paths are left alone) of a `kind` component at `path`. */
export function checkOptions(
  kind: Kind,
  type: unknown,
  plugin: ResolvedComponent,
  options: Record<string, unknown>,
  deferred: PathSegment[][],
  path: PathSegment[],
  src: SourceFile,
  diags: Diagnostic[],
): void {
  const schema = optionSchema(kind, plugin.schema);
  diags.push(
    ...validateValue(schema, options, src, {
      basePath: path,
      what: `${type} option`,
      deferred: (p) => isUnder(p, deferred),
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

/** The schema a component's options are checked against: the plugin's plus the common keys. */
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
