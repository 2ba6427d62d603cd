/**
 * Undo what the chroot steps set up — end the processes left in the chroot, put copied files
 * back, unmount the chroot mounts and the root, detach loop devices — now, in reverse, while the
 * build still runs: for a builder that must unmount before it saves the disk (Packer's "early
 * cleanup", before a snapshot). Fails the build when something cannot be undone; the steps'
 * cleanups then try what is left once more.
 */
import type { Step } from "@kiln/core";
import { teardownOf } from "./common.js";

export function chrootTeardownStep(): Step {
  return {
    name: "chroot-teardown",
    async run(ctx) {
      const t = teardownOf(ctx);
      if (t.pending().length === 0) return;
      ctx.ui.say("Unmounting the chroot...");
      await t.undo(undefined, { strict: true, report: (m) => ctx.ui.error(m) });
    },
  };
}
