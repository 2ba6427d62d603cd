/**
 * Option values that Packer spells differently from kiln's components (a table, kept short: most
 * options carry over as they are). Each rewrite takes the value written and gives kiln's, or a
 * reason there is none.
 */
import type { Kind } from "./context.js";

type Rewrite = (value: string) => { value: string } | { none: string };

/** compress: Packer's `format` is an extension (".gz", ".tar.gz"); kiln's a format name. */
const COMPRESS_FORMATS: Record<string, string> = {
  gz: "gzip",
  gzip: "gzip",
  xz: "xz",
  zst: "zstd",
  zstd: "zstd",
  tar: "tar",
  tgz: "tar.gz",
  "tar.gz": "tar.gz",
  "tar.xz": "tar.xz",
  "tar.zst": "tar.zst",
};

const REWRITES: Record<string, Rewrite> = {
  "post-processor:compress:format": (v) => {
    const k = COMPRESS_FORMATS[v.replace(/^\./, "").toLowerCase()];
    return k
      ? { value: k }
      : {
          none: `compress has no format "${v}" in kiln (${[...new Set(Object.values(COMPRESS_FORMATS))].join(", ")})`,
        };
  },
};

export function rewriteOption(
  kind: Kind,
  type: string,
  option: string,
  value: string,
): { value: string } | { none: string } | undefined {
  return REWRITES[`${kind}:${type}:${option}`]?.(value);
}
