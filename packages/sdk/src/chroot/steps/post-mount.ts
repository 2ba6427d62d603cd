/** post_mount_commands, on this machine, once the root is mounted (`${{ build.Device }}`, `${{ build.MountPath }}`). */
import type { Step } from "@kiln/core";
import { CHROOT_DEVICE, CHROOT_ROOT } from "../../state.js";
import type { ChrootStepOptions } from "../options.js";
import { hostFor, runCommandList } from "./common.js";

export function postMountCommandsStep(
  o: Pick<ChrootStepOptions, "command_wrapper" | "post_mount_commands">,
): Step {
  return {
    name: "post-mount-commands",
    async run(ctx) {
      const { device } = ctx.state.require(CHROOT_DEVICE);
      const { mountPath } = ctx.state.require(CHROOT_ROOT);
      await runCommandList(ctx, hostFor(ctx, o), "post_mount_commands", o.post_mount_commands, {
        Device: device,
        MountPath: mountPath,
      });
    },
  };
}
