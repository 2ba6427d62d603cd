/** The kamatera builder's one error helper: every message starts with `[kamatera] `. */
import { builderErrors } from "@kiln/sdk";

export const errors = builderErrors({
  prefix: "kamatera",
  configCode: "KILN_KAMATERA_CONFIG",
  bugCode: "KILN_KAMATERA_STEP",
  packageName: "@kiln/builder-kamatera",
});
