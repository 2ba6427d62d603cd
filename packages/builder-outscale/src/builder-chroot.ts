/**
 * outscale-chroot's run time, after the Packer plugin's chroot builder (RESEARCH.md §2.6), on the
 * SDK's chroot steps and communicator (docs/chroot.md):
 *
 *   API → this VM (metadata service) → no OMI of that name yet → source OMI (unless from_scratch)
 *   → a volume from its root snapshot (or empty) in this VM's subregion → linked here, its node
 *   waited for → pre_mount_commands → mount → post_mount_commands → chroot_mounts → copy_files
 *   → provisioners inside the chroot → everything unmounted → unlinked → snapshot →
 *   [force_deregister] → OMI (the snapshot as its root) → copies → done.
 *
 * Cleanup in reverse on success, failure and Ctrl-C: the chroot's processes, copied files, mounts
 * and the mount folder first (the SDK's steps), then the volume unlinked and deleted, the snapshot
 * and the OMI of a build that did not finish.
 */
import { type BuilderRuntime, parseDuration } from "@kiln/core";
import {
  chrootConnectStep,
  chrootMountsStep,
  chrootOptionProblems,
  chrootTeardownStep,
  copyFilesStep,
  mountDeviceStep,
  postMountCommandsStep,
  preMountCommandsStep,
} from "@kiln/sdk";
import { omiArtifact } from "./builder.js";
import { checkChroot } from "./checks.js";
import { chrootImage } from "./chroot-omi.js";
import type { OutscaleType } from "./errors.js";
import { outscaleRuntime } from "./runtime.js";
import type { ChrootBuilderOptions } from "./schema.js";
import { SNAPSHOTS } from "./state.js";
import { apiStep } from "./steps/api.js";
import { createVolumeStep, linkVolumeStep, unlinkVolumeStep } from "./steps/chroot-volume.js";
import { copyRegionsStep } from "./steps/copy-regions.js";
import { createOmiStep } from "./steps/create-omi.js";
import { deregisterStep } from "./steps/deregister.js";
import { finishStep } from "./steps/finish.js";
import { hostVmStep } from "./steps/host-vm.js";
import { preValidateStep } from "./steps/pre-validate.js";
import { chrootVolume, snapshotVolumesStep } from "./steps/snapshot-volumes.js";
import { sourceOmiStep } from "./steps/source-omi.js";

/** Packer's BuilderId of the chroot builder. */
export const CHROOT_BUILDER_ID = "oapi.outscale.chroot";

export function chrootBuilder(type: OutscaleType): BuilderRuntime<ChrootBuilderOptions> {
  return outscaleRuntime<ChrootBuilderOptions>(type, {
    check(o, ctx, e) {
      const problems = chrootOptionProblems(o);
      if (problems.length) throw e.config(problems.join("; "));
      checkChroot(o, ctx.ui);
    },
    steps(o, provision) {
      const root = o.root_device_name ?? "/dev/sda1";
      return [
        apiStep(o),
        hostVmStep(o),
        preValidateStep(o),
        ...(o.from_scratch ? [] : [sourceOmiStep(o)]),
        createVolumeStep(o),
        linkVolumeStep(o),
        preMountCommandsStep(o),
        mountDeviceStep(o, { deviceTimeoutMs: parseDuration(o.device_timeout) }),
        postMountCommandsStep(o),
        chrootMountsStep(o),
        copyFilesStep(o, o.from_scratch ? { defaults: [] } : {}),
        chrootConnectStep(o),
        provision,
        chrootTeardownStep(),
        unlinkVolumeStep(o),
        snapshotVolumesStep(o, chrootVolume(root)),
        deregisterStep(o),
        createOmiStep(o, (c) => chrootImage(o, c.state.require(SNAPSHOTS)[root] as string)),
        copyRegionsStep(o),
        finishStep(),
      ];
    },
    artifact: (o, ctx) => omiArtifact(type, CHROOT_BUILDER_ID, o, ctx),
  });
}
