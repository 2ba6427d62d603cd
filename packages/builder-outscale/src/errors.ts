/**
 * The OUTSCALE package's one error helper. Messages start with the component's type
 * (`[outscale-bsu] …`, `[outscale-omi] …`); shared code (credentials, the API client) says
 * `[outscale] …`, which the wrapped steps and prepare rename.
 */
import { type BuilderErrors, builderErrors } from "@kiln/sdk";

export type OutscaleType = "outscale-bsu" | "osc-bsu" | "outscale-omi" | "osc-omi";

export function outscaleErrors(prefix: OutscaleType | "outscale"): BuilderErrors {
  return builderErrors({
    prefix,
    configCode: "KILN_OUTSCALE_CONFIG",
    bugCode: "KILN_OUTSCALE_STEP",
    packageName: "@kiln/builder-outscale",
    rename: ["outscale"],
  });
}

/** For the modules every component shares: `[outscale] …`, renamed to the component's type. */
export const errors = outscaleErrors("outscale");
