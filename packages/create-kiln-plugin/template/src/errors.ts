/** Every error of this builder starts with `[__TYPE__] `; steps are wrapped so shared ones do too. */
import { builderErrors } from "@kiln/sdk";

export const errors = builderErrors({
  prefix: "__TYPE__",
  configCode: "KILN_BUILDER_CONFIG",
  bugCode: "KILN_BUILDER_STEP",
  packageName: "__NAME__",
});
