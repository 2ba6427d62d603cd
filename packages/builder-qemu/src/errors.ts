/** The qemu builder's one error helper: `[qemu] ` messages, KILN_QEMU_CONFIG, wrapped steps. */
import { builderErrors } from "@kiln/sdk";

export const qemuErrors = builderErrors({
  prefix: "qemu",
  configCode: "KILN_QEMU_CONFIG",
  bugCode: "KILN_QEMU_STEP",
  packageName: "@kiln/builder-qemu",
});
