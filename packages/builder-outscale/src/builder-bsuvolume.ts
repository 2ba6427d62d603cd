/**
 * outscale-bsuvolume's run time, after the Packer plugin's bsuvolume builder (RESEARCH.md §2.5):
 *
 *   API → source OMI → network → temporary key → key pair → public IP → security group → VM
 *   launched with bsu_volumes (each tagged with its own tags) → SSH → provisioners → keys
 *   cleared → stop → the volumes are kept.
 *
 * The shared steps are outscale-bsu's. Cleanup deletes the VM and, unless the build finished,
 * the bsu_volumes too (nothing half-built stays); a finished build keeps them: the artifact is
 * their ids (Packer keys them by region ""; kiln by the real region), and destroy() deletes them.
 */
import type { Artifact, BuilderRuntime, RunContext, Step } from "@kiln/core";
import { clearAuthorizedKeysStep, connectStep, temporaryKeyStep } from "@kiln/sdk";
import { checkBsuvolume } from "./checks.js";
import { resolveCredentials } from "./credentials.js";
import { type OutscaleType, outscaleErrors } from "./errors.js";
import { openClient } from "./open-client.js";
import { prepareBuilder, withSshTimeout } from "./prepare.js";
import type { BsuvolumeOptions } from "./schema.js";
import { KEPT_VOLUMES } from "./state.js";
import { apiStep } from "./steps/api.js";
import { keepVolumesStep } from "./steps/keep-volumes.js";
import { keyPairStep } from "./steps/key-pair.js";
import { networkStep } from "./steps/network.js";
import { publicIpStep } from "./steps/public-ip.js";
import { runVmStep } from "./steps/run-vm.js";
import { securityGroupStep } from "./steps/security-group.js";
import { sourceOmiStep } from "./steps/source-omi.js";
import { stopVmStep } from "./steps/stop-vm.js";

/** Packer's BuilderId of the bsuvolume builder. */
export const BSUVOLUME_BUILDER_ID = "oapi.outscale.bsuvolume";

export function bsuvolumeBuilder(type: OutscaleType): BuilderRuntime<BsuvolumeOptions> {
  const e = outscaleErrors(type);
  return {
    async prepare(o, ctx) {
      await prepareBuilder(type, o, ctx, () => {
        checkBsuvolume(o, ctx.ui);
      });
    },
    steps(o, ctx) {
      const provision = ctx.provisionStep();
      const ssh = withSshTimeout(o);
      const volumes = o.bsu_volumes ?? [];
      const deviceTags = Object.fromEntries(volumes.map((v) => [v.device_name, v.tags ?? {}]));
      const steps: Step[] = [
        apiStep(o),
        sourceOmiStep(o),
        networkStep(o),
        temporaryKeyStep(o),
        keyPairStep(o),
        publicIpStep(o),
        securityGroupStep(o),
        runVmStep(o, { mappings: volumes, deviceTags, volumesKept: true }),
        connectStep(ssh),
        provision,
        clearAuthorizedKeysStep(o),
        stopVmStep(o),
        keepVolumesStep(volumes),
      ];
      return steps.map((s) => (s === provision ? s : e.wrap(s)));
    },
    artifact: (o, ctx) => volumesArtifact(type, o, ctx),
  };
}

/** The kept volumes; destroy() deletes them. */
function volumesArtifact(type: OutscaleType, o: BsuvolumeOptions, ctx: RunContext): Artifact | undefined {
  const kept = ctx.state.get(KEPT_VOLUMES);
  if (!kept) return undefined;
  const region = o.region ?? resolveCredentials(o, { env: process.env, baseDir: ctx.baseDir }).region;
  return {
    builderType: type,
    id: kept.map((k) => k.volumeId).join(","),
    files: [],
    description: `Volumes were kept in ${region}: ${kept.map((k) => `${k.volumeId} (${k.deviceName})`).join(", ")}`,
    data: { builder_id: BSUVOLUME_BUILDER_ID, region, volumes: kept },
    async destroy() {
      const client = openClient(o, ctx);
      try {
        for (const k of kept) {
          await client.call("DeleteVolume", { VolumeId: k.volumeId });
          ctx.ui.say(`Deleted the volume ${k.volumeId}.`);
        }
      } finally {
        client.close();
      }
    },
  };
}
