/**
 * Schema defaults, applied by the engine before a component sees its options: a component
 * declares `default` once in its schema and reads the option plainly, never `?? default` again.
 *
 * Only `properties` (and `items` of arrays that are present) are followed: a default inside
 * `anyOf`/`oneOf` would be ambiguous, as in ajv's useDefaults. Values the user wrote are never
 * touched, and the input is not modified.
 */
import { isDeferred } from "../expr/deferred.js";
import type { JsonSchema } from "./base.js";

export function applyDefaults<T>(schema: JsonSchema, value: T): T {
  return fill(schema, value) as T;
}

function fill(schema: JsonSchema | undefined, value: unknown): unknown {
  // A build-time marker stands for a value not known yet: it is kept as it is.
  if (!schema || typeof schema !== "object" || isDeferred(value)) return value;
  if (Array.isArray(value)) {
    const items = schema.items as JsonSchema | undefined;
    return items && typeof items === "object" && !Array.isArray(items)
      ? value.map((v) => fill(items, v))
      : value;
  }
  const props = schema.properties as Record<string, JsonSchema> | undefined;
  if (!props || !value || typeof value !== "object") return value;
  const out: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  for (const [key, sub] of Object.entries(props)) {
    if (out[key] === undefined) {
      if (sub && "default" in sub) out[key] = structuredClone(sub.default);
    } else {
      out[key] = fill(sub, out[key]);
    }
  }
  return out;
}
