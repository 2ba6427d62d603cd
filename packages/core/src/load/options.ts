/** Checking a component's options against its plugin's schema plus the keys every component has. */
import { type Diagnostic, diagnostic } from "../errors.js";
import type { ResolvedComponent } from "../plugins/resolve.js";
import { type JsonSchema, type Kind, POST_PROCESSOR_COMMON, PROVISIONER_COMMON } from "../schema/base.js";
import { validateValue } from "../schema/validate.js";
import { isUnder } from "./expand.js";
import { formatPath, type PathSegment, positionOf, type SourceFile } from "./parse.js";

/** Keys the engine reads before a run renders anything: they cannot wait for build-time values. */
const READ_BEFORE_RUN: Partial<Record<Kind, readonly string[]>> = {
  provisioner: ["type", "name", "only", "except", "pause_before", "max_retries", "timeout", "cache"],
  "post-processor": ["type", "name", "only", "except", "keep_input_artifact"],
};

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
  redact?: (text: string) => string,
): void {
  const schema = optionSchema(kind, plugin.schema);
  try {
    diags.push(
      ...validateValue(schema, options, src, {
        basePath: path,
        what: `${type} option`,
        deferred: (p) => isUnder(p, deferred),
        ...(redact ? { redact } : {}),
      }),
    );
  } catch (err) {
    // The plugin's schema.json itself is broken (a bad regex, an unresolvable or endless $ref):
    // the plugin's fault, reported where the file uses it.
    const why = (err instanceof Error ? err.message : String(err)).split("\n")[0]?.slice(0, 200);
    diags.push(
      diagnostic(
        "KILN_PLUGIN_MALFORMED",
        `${plugin.pkg.name}@${plugin.pkg.version}: the schema.json of ${kind} "${String(type)}" cannot be used: ${why}`,
        {
          path: formatPath([...path, "type"]),
          pos: positionOf(src, [...path, "type"]),
          hint: `This is a fault of the plugin package; report it to its authors, or use another version (${plugin.pkg.dir}).`,
        },
      ),
    );
    return;
  }
  for (const d of deferred) {
    const key = d[0];
    if (typeof key !== "string" || !READ_BEFORE_RUN[kind]?.includes(key)) continue;
    diags.push(
      diagnostic(
        "KILN_EXPR_EVAL",
        `${key} is needed before the build starts; it cannot use build-time values`,
        {
          path: formatPath([...path, ...d]),
          pos: positionOf(src, [...path, ...d]),
          hint: "Use var.*, local.* or env.* here; build.*, http.* and source.* are known only while a build runs.",
        },
      ),
    );
  }
  if (kind === "provisioner" && isMap(options.override)) {
    const partial = optionSchema(kind, withoutRequired(plugin.schema));
    for (const [srcName, o] of Object.entries(options.override)) {
      const below = deferred.filter((d) => d[0] === "override" && d[1] === srcName).map((d) => d.slice(2));
      diags.push(
        ...safeValidate(partial, { type, ...(o as object) }, src, {
          basePath: [...path, "override", srcName],
          what: `${type} option`,
          deferred: (p) => isUnder(p, below),
          ...(redact ? { redact } : {}),
        }),
      );
    }
  }
}

/** validateValue, for a schema already known to compile: any other failure yields no diagnostics. */
function safeValidate(...args: Parameters<typeof validateValue>): Diagnostic[] {
  try {
    return validateValue(...args);
  } catch {
    return [];
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
