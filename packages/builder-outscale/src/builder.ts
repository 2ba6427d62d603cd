/**
 * outscale-bsu's run time, after the Packer plugin's bsu builder (RESEARCH.md §2.3):
 *
 *   API (DryRun check, account) → no OMI of that name yet → source OMI → network → temporary
 *   key (made locally) imported as a key pair → public IP → security group (+ rule for the SSH
 *   port) → VM (tags, public IP linked, address) → SSH → provisioners → keys cleared → stop →
 *   [force_deregister] → OMI (wait, permissions, tags) → copies in omi_regions → done.
 *
 * Every cleanup runs on success, failure and Ctrl-C, in reverse: the VM is deleted (and waited
 * for), its launch volumes that outlive it deleted, then the security group, the public IP, the
 * key pair; an OMI (or a copy) the build did not finish is deleted with its snapshots.
 */
import type { Artifact, BuilderRuntime, RunContext } from "@kiln/core";
import { checkBsu } from "./checks.js";
import { regionEndpoint } from "./credentials.js";
import type { OutscaleType } from "./errors.js";
import { openClient } from "./open-client.js";
import { outscaleRuntime } from "./runtime.js";
import type { BsuOptions, OmiStepOptions } from "./schema.js";
import { RESULT } from "./state.js";
import { apiStep } from "./steps/api.js";
import { copyRegionsStep } from "./steps/copy-regions.js";
import { createOmiStep, deleteImage, vmSource } from "./steps/create-omi.js";
import { deregisterStep } from "./steps/deregister.js";
import { finishStep } from "./steps/finish.js";
import { preValidateStep } from "./steps/pre-validate.js";
import { launchMappings, provisionedVmSteps } from "./vm-steps.js";

/** Packer's BuilderId of the bsu builder. */
export const BSU_BUILDER_ID = "oapi.outscale.bsu";

export function bsuBuilder(type: OutscaleType): BuilderRuntime<BsuOptions> {
  return outscaleRuntime<BsuOptions>(type, {
    check: (o, ctx) => checkBsu(o, ctx.ui),
    steps: (o, provision) => [
      apiStep(o),
      preValidateStep(o),
      ...provisionedVmSteps(o, provision, launchMappings(o)),
      deregisterStep(o),
      createOmiStep(o, vmSource(o)),
      copyRegionsStep(o),
      finishStep(),
    ],
    artifact: (o, ctx) => omiArtifact(type, BSU_BUILDER_ID, o, ctx),
  });
}

/** The OMIs by region (Packer's id: "eu-west-2:ami-…,us-east-2:ami-…"); destroy() deletes them and their snapshots. */
export function omiArtifact(
  type: OutscaleType,
  builderId: string,
  o: OmiStepOptions,
  ctx: RunContext,
): Artifact | undefined {
  const r = ctx.state.get(RESULT);
  if (!r) return undefined;
  const entries = Object.entries(r.omis);
  const home = entries[0]?.[0] as string;
  return {
    builderType: type,
    id: entries.map(([region, id]) => `${region}:${id}`).join(","),
    files: [],
    description: `OMIs were created: ${entries.map(([region, id]) => `${region}: ${id}`).join(", ")}`,
    data: { builder_id: builderId, region: home, omis: r.omis, snapshots: r.snapshots },
    async destroy() {
      for (const [region, id] of entries) {
        const endpoint =
          region === home ? undefined : (o.omi_region_endpoints?.[region] ?? regionEndpoint(region));
        const client = openClient(
          o,
          ctx,
          region === home ? undefined : { region, ...(endpoint ? { endpoint } : {}) },
        );
        try {
          await deleteImage(client, id, r.snapshots[region] ?? []);
          ctx.ui.say(`Deleted the OMI ${id} in ${region}.`);
        } finally {
          client.close();
        }
      }
    },
  };
}
