import { defineBuilder, definePlugin, KilnError } from "@kiln/core";
import { qemuSchema } from "./schema.js";

export { qemuSchema };

export const qemu = defineBuilder({
  type: "qemu",
  description:
    "Build an image with QEMU: install from an ISO with a typed boot command, or start from a cloud disk image.",
  schema: qemuSchema,
  create: () => {
    throw new KilnError(
      "KILN_PLUGIN_INCOMPATIBLE",
      "this version of @kiln/builder-qemu validates build files but cannot run builds yet",
      {
        hint: "Upgrade @kiln/builder-qemu to a version that runs builds.",
      },
    );
  },
});

export default definePlugin({ name: "@kiln/builder-qemu", builders: [qemu] });
