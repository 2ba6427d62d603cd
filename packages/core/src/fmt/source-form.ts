import type { Document, Scalar, ScalarTag } from "yaml";

const STR_TAG = "tag:yaml.org,2002:str";

/**
 * Makes `doc` write numbers and other plain non-string scalars the way the user wrote them
 * (`0755`, `1e3`, `0x1F`, `+1`) instead of in the library's normal form, whenever the original text
 * still stands for the node's value. Works on the document's own copy of its schema (clones have one).
 */
export function keepScalarSourceForm(doc: Document): void {
  doc.schema.tags = doc.schema.tags.map((tag) => {
    if (tag.collection || !("test" in tag) || !tag.test || !tag.stringify || tag.tag === STR_TAG) return tag;
    return wrap(tag as ScalarTag & { test: RegExp; stringify: NonNullable<ScalarTag["stringify"]> });
  });
}

function wrap(tag: ScalarTag & { test: RegExp; stringify: NonNullable<ScalarTag["stringify"]> }): ScalarTag {
  const fallback = tag.stringify;
  return {
    ...tag,
    stringify(item, ctx, onComment, onChompKeep) {
      const source = (item as Scalar & { source?: unknown }).source;
      if (
        typeof source === "string" &&
        tag.test.test(source) &&
        sameValue(resolve(tag, source), item.value)
      ) {
        return source;
      }
      return fallback(item, ctx, onComment, onChompKeep);
    },
  };
}

function resolve(tag: ScalarTag, source: string): unknown {
  let failed = false;
  try {
    const value = tag.resolve(source, () => (failed = true), {});
    return failed ? Symbol("unresolved") : value;
  } catch {
    return Symbol("unresolved");
  }
}

function sameValue(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  return typeof a === "bigint" && typeof b === "bigint" && a === b;
}
