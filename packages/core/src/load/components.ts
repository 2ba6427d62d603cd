/**
 * The one walk over a build file's components: data sources, sources (builders), and each
 * build's provisioners, error-cleanup-provisioner and post-processors (chains included). The
 * loader, the CLI's plugin installer and `kiln schema` all see the components through it.
 */
import type { Kind } from "../schema/base.js";
import type { PathSegment } from "./parse.js";
import type { RawFile } from "./structure.js";

/** Where a component sits in the file. */
export type ComponentSlot =
  | { in: "data"; name: string }
  | { in: "sources"; name: string }
  | { in: "provisioners"; build: number; index: number }
  | { in: "error-cleanup-provisioner"; build: number }
  /** `index` is the place in the chain; `chained` is false for a post-processor written alone. */
  | { in: "post-processors"; build: number; chain: number; index: number; chained: boolean };

export interface ComponentRef {
  kind: Kind;
  /** Its `type:`, when that is a string. */
  type: string | undefined;
  /** Where it is in the document, e.g. ["builds", 0, "post-processors", 1, 0]. */
  path: PathSegment[];
  /** The component's map as written. */
  node: Record<string, unknown>;
  slot: ComponentSlot;
}

const isMap = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

/**
 * Every component of a file, in order: data sources, sources, then build by build its
 * provisioners, error-cleanup-provisioner and post-processors. Entries that are not maps (the
 * structure check reports them) are skipped.
 */
export function* walkComponents(raw: RawFile): Generator<ComponentRef> {
  const ref = (kind: Kind, node: Record<string, unknown>, path: PathSegment[], slot: ComponentSlot) => ({
    kind,
    type: typeof node.type === "string" ? node.type : undefined,
    path,
    node,
    slot,
  });
  if (isMap(raw.data)) {
    for (const [name, d] of Object.entries(raw.data))
      if (isMap(d)) yield ref("datasource", d, ["data", name], { in: "data", name });
  }
  if (isMap(raw.sources)) {
    for (const [name, s] of Object.entries(raw.sources))
      if (isMap(s)) yield ref("builder", s, ["sources", name], { in: "sources", name });
  }
  if (!Array.isArray(raw.builds)) return;
  for (const [i, b] of raw.builds.entries()) {
    if (!isMap(b)) continue;
    const base: PathSegment[] = ["builds", i];
    if (Array.isArray(b.provisioners)) {
      for (const [k, p] of b.provisioners.entries())
        if (isMap(p))
          yield ref("provisioner", p, [...base, "provisioners", k], {
            in: "provisioners",
            build: i,
            index: k,
          });
    }
    const ecp = b["error-cleanup-provisioner"];
    if (isMap(ecp))
      yield ref("provisioner", ecp, [...base, "error-cleanup-provisioner"], {
        in: "error-cleanup-provisioner",
        build: i,
      });
    const pps = b["post-processors"];
    if (Array.isArray(pps)) {
      for (const [k, pp] of pps.entries()) {
        const chained = Array.isArray(pp);
        for (const [m, item] of (chained ? pp : [pp]).entries()) {
          if (!isMap(item)) continue;
          const path = chained ? [...base, "post-processors", k, m] : [...base, "post-processors", k];
          yield ref("post-processor", item, path, {
            in: "post-processors",
            build: i,
            chain: k,
            index: m,
            chained,
          });
        }
      }
    }
  }
}
