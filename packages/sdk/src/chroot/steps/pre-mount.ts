/** pre_mount_commands, on this machine, once the device exists (`${{ build.Device }}` is it). */
import type { Step } from "@kiln/core";
import { CHROOT_DEVICE } from "../../state.js";
import type { ChrootStepOptions } from "../options.js";
import { hostFor, runCommandList } from "./common.js";

export function preMountCommandsStep(
  o: Pick<ChrootStepOptions, "command_wrapper" | "pre_mount_commands">,
): Step {
  return {
    name: "pre-mount-commands",
    async run(ctx) {
      const { device } = ctx.state.require(CHROOT_DEVICE);
      await runCommandList(ctx, hostFor(ctx, o), "pre_mount_commands", o.pre_mount_commands, {
        Device: device,
      });
    },
  };
}
