import { definePlugin, definePostProcessor, KilnError } from "@kiln/core";
import { checksumSchema, compressSchema, manifestSchema, shellLocalSchema } from "./schema.js";

const notYet = (type: string) => () => {
  throw new KilnError("KILN_PLUGIN_INCOMPATIBLE", `this version of @kiln/post-processors validates ${type} but cannot run it yet`, {
    hint: "Upgrade @kiln/post-processors to a version that runs builds.",
  });
};

export const manifest = definePostProcessor({ type: "manifest", description: "Write a JSON manifest of the artifacts (Packer's format).", schema: manifestSchema, create: notYet("manifest") });
export const checksum = definePostProcessor({ type: "checksum", description: "Write checksum files of the artifacts.", schema: checksumSchema, create: notYet("checksum") });
export const compress = definePostProcessor({ type: "compress", description: "Compress the artifacts.", schema: compressSchema, create: notYet("compress") });
export const shellLocal = definePostProcessor({ type: "shell-local", description: "Run commands on the machine running kiln.", schema: shellLocalSchema, create: notYet("shell-local") });

export default definePlugin({ name: "@kiln/post-processors", postProcessors: [manifest, checksum, compress, shellLocal] });
