/**
 * outscale-bsusurrogate's run time, after the Packer plugin's bsusurrogate builder (RESEARCH.md §2.4):
 *
 *   outscale-bsu's steps up to the stopped VM — the surrogate, launched with the launch volumes
 *   its provisioners write an OS onto — then a snapshot of each launch volume → [force_deregister]
 *   → the OMI registered from those snapshots, omi_root_device's volume as its root (its size,
 *   type, iops and delete_on_vm_deletion honoured; the architecture not forced) → copies → done.
 *
 * Cleanup as outscale-bsu's, plus the snapshots of a build that did not finish.
 */
import type { BuilderRuntime } from "@kiln/core";
import { omiArtifact } from "./builder.js";
import { checkBsusurrogate } from "./checks.js";
import type { OutscaleType } from "./errors.js";
import { outscaleRuntime } from "./runtime.js";
import type { BsusurrogateOptions } from "./schema.js";
import { SNAPSHOTS } from "./state.js";
import { apiStep } from "./steps/api.js";
import { copyRegionsStep } from "./steps/copy-regions.js";
import { createOmiStep } from "./steps/create-omi.js";
import { deregisterStep } from "./steps/deregister.js";
import { finishStep } from "./steps/finish.js";
import { preValidateStep } from "./steps/pre-validate.js";
import { launchVolumes, snapshotVolumesStep } from "./steps/snapshot-volumes.js";
import { snapshotted, surrogateImage } from "./surrogate-omi.js";
import { launchMappings, provisionedVmSteps } from "./vm-steps.js";

/** Packer's BuilderId of the bsusurrogate builder. */
export const BSUSURROGATE_BUILDER_ID = "oapi.outscale.bsusurrogate";

export function bsusurrogateBuilder(type: OutscaleType): BuilderRuntime<BsusurrogateOptions> {
  return outscaleRuntime<BsusurrogateOptions>(type, {
    check: (o, ctx) => checkBsusurrogate(o, ctx.ui),
    steps: (o, provision) => [
      apiStep(o),
      preValidateStep(o),
      ...provisionedVmSteps(o, provision, launchMappings(o)),
      snapshotVolumesStep(o, launchVolumes(snapshotted(o))),
      deregisterStep(o),
      createOmiStep(o, (c) => surrogateImage(o, c.state.require(SNAPSHOTS))),
      copyRegionsStep(o),
      finishStep(),
    ],
    artifact: (o, ctx) => omiArtifact(type, BSUSURROGATE_BUILDER_ID, o, ctx),
  });
}
