/**
 * The kiln builder "__TYPE__": its options (a schema, shipped as schema.json by
 * `kiln-plugin-schema`, so kiln validates build files without loading this code) and the
 * plugin. The implementation in builder.ts is loaded only when a build runs it.
 */
import { defineBuilder, definePlugin } from "@kiln/core";
import { schema } from "./schema.js";

export { schema };

export const builder = defineBuilder({
  type: "__TYPE__",
  description: "An example builder made with create-kiln-plugin.",
  schema,
  create: async () => (await import("./builder.js")).runtime,
});

export default definePlugin({ name: "__NAME__", builders: [builder] });
