import { defineBuilder, definePlugin } from "@kiln/core";
import { type QemuOptions, qemuSchema } from "./schema.js";

export { type QemuOptions, qemuSchema };

export const qemu = defineBuilder({
  type: "qemu",
  description:
    "Build an image with QEMU: install from an ISO with a typed boot command, or start from a cloud disk image.",
  schema: qemuSchema,
  // The implementation is loaded only when a build runs, so validation never imports it.
  create: async () => (await import("./builder.js")).qemuBuilder,
});

export default definePlugin({ name: "@kiln/builder-qemu", builders: [qemu] });
