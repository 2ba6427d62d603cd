import { definePlugin, definePostProcessor } from "@kiln/core";
import { checksumSchema, compressSchema, manifestSchema, shellLocalSchema } from "./schema.js";

// Implementations load only when a build runs them (create()); validation needs the schemas alone.

export const manifest = definePostProcessor({
  type: "manifest",
  description: "Write a JSON manifest of the artifacts (Packer's format).",
  schema: manifestSchema,
  create: async () => (await import("./manifest.js")).manifest,
});
export const checksum = definePostProcessor({
  type: "checksum",
  description: "Write checksum files of the artifacts.",
  schema: checksumSchema,
  create: async () => (await import("./checksum.js")).checksum,
});
export const compress = definePostProcessor({
  type: "compress",
  description: "Compress the artifacts.",
  schema: compressSchema,
  create: async () => (await import("./compress.js")).compress,
});
export const shellLocal = definePostProcessor({
  type: "shell-local",
  description: "Run commands on the machine running kiln.",
  schema: shellLocalSchema,
  create: async () => (await import("./shell-local.js")).shellLocal,
});

export type { ChecksumOptions, CompressOptions, ManifestOptions, ShellLocalOptions } from "./schema.js";

export default definePlugin({
  name: "@kiln/post-processors",
  postProcessors: [manifest, checksum, compress, shellLocal],
});
