import { defineBuilder, definePlugin } from "@kiln/core";
import { kamateraSchema } from "./schema.js";

export { kamateraSchema };

export const kamatera = defineBuilder({
  type: "kamatera",
  description:
    "Build Kamatera hard-disk library images: create a server, provision it over SSH (or let a first-boot script do it), power it off, clone its disks to the library, terminate it.",
  schema: kamateraSchema,
  // The implementation is loaded only when a build runs, so validation never imports it.
  create: async () => (await import("./builder.js")).kamateraBuilder,
});

export default definePlugin({ name: "@kiln/builder-kamatera", builders: [kamatera] });
