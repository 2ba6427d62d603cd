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
import type { Artifact, BuilderRuntime, RunContext } from "@kiln/core";
import { checkBsuvolume } from "./checks.js";
import { resolveCredentials } from "./credentials.js";
import type { OutscaleType } from "./errors.js";
import { openClient } from "./open-client.js";
import { outscaleRuntime } from "./runtime.js";
import type { BsuvolumeOptions } from "./schema.js";
import { KEPT_VOLUMES } from "./state.js";
import { apiStep } from "./steps/api.js";
import { keepVolumesStep } from "./steps/keep-volumes.js";
import { provisionedVmSteps } from "./vm-steps.js";

/** Packer's BuilderId of the bsuvolume builder. */
export const BSUVOLUME_BUILDER_ID = "oapi.outscale.bsuvolume";

export function bsuvolumeBuilder(type: OutscaleType): BuilderRuntime<BsuvolumeOptions> {
  return outscaleRuntime<BsuvolumeOptions>(type, {
    check: (o, ctx) => checkBsuvolume(o, ctx.ui),
    steps(o, provision) {
      const volumes = o.bsu_volumes ?? [];
      const deviceTags = Object.fromEntries(volumes.map((v) => [v.device_name, v.tags ?? {}]));
      return [
        apiStep(o),
        ...provisionedVmSteps(o, provision, { mappings: volumes, deviceTags, volumesKept: true }),
        keepVolumesStep(volumes),
      ];
    },
    artifact: (o, ctx) => volumesArtifact(type, o, ctx),
  });
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
