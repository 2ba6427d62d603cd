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
import type { BuilderRuntime, Step } from "@kiln/core";
import { clearAuthorizedKeysStep, connectStep, temporaryKeyStep } from "@kiln/sdk";
import { omiArtifact } from "./builder.js";
import { checkBsusurrogate } from "./checks.js";
import { type OutscaleType, outscaleErrors } from "./errors.js";
import { prepareBuilder, withSshTimeout } from "./prepare.js";
import type { BsusurrogateOptions } from "./schema.js";
import { SNAPSHOTS } from "./state.js";
import { apiStep } from "./steps/api.js";
import { copyRegionsStep } from "./steps/copy-regions.js";
import { createOmiStep } from "./steps/create-omi.js";
import { deregisterStep } from "./steps/deregister.js";
import { finishStep } from "./steps/finish.js";
import { keyPairStep } from "./steps/key-pair.js";
import { networkStep } from "./steps/network.js";
import { preValidateStep } from "./steps/pre-validate.js";
import { publicIpStep } from "./steps/public-ip.js";
import { runVmStep } from "./steps/run-vm.js";
import { securityGroupStep } from "./steps/security-group.js";
import { launchVolumes, snapshotVolumesStep } from "./steps/snapshot-volumes.js";
import { sourceOmiStep } from "./steps/source-omi.js";
import { stopVmStep } from "./steps/stop-vm.js";
import { snapshotted, surrogateImage } from "./surrogate-omi.js";

/** Packer's BuilderId of the bsusurrogate builder. */
export const BSUSURROGATE_BUILDER_ID = "oapi.outscale.bsusurrogate";

export function bsusurrogateBuilder(type: OutscaleType): BuilderRuntime<BsusurrogateOptions> {
  const e = outscaleErrors(type);
  return {
    async prepare(o, ctx) {
      await prepareBuilder(type, o, ctx, () => {
        checkBsusurrogate(o, ctx.ui);
      });
    },
    steps(o, ctx) {
      const provision = ctx.provisionStep();
      const ssh = withSshTimeout(o);
      const launch = {
        mappings: o.launch_block_device_mappings ?? [],
        ...(o.run_volume_tags ? { volumeTags: o.run_volume_tags } : {}),
      };
      const steps: Step[] = [
        apiStep(o),
        preValidateStep(o),
        sourceOmiStep(o),
        networkStep(o),
        temporaryKeyStep(o),
        keyPairStep(o),
        publicIpStep(o),
        securityGroupStep(o),
        runVmStep(o, launch),
        connectStep(ssh),
        provision,
        clearAuthorizedKeysStep(o),
        stopVmStep(o),
        snapshotVolumesStep(o, launchVolumes(snapshotted(o))),
        deregisterStep(o),
        createOmiStep(o, (c) => surrogateImage(o, c.state.require(SNAPSHOTS))),
        copyRegionsStep(o),
        finishStep(),
      ];
      return steps.map((s) => (s === provision ? s : e.wrap(s)));
    },
    artifact: (o, ctx) => omiArtifact(type, BSUSURROGATE_BUILDER_ID, o, ctx),
  };
}
