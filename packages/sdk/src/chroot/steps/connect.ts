/**
 * Connect the chroot communicator to the mounted root (CHROOT_ROOT) and publish it as the run's
 * communicator, so `ctx.provisionStep()` runs the provisioners inside the chroot. Whatever is still
 * running in the chroot when it is closed (a daemon a provisioner started) is ended then.
 */
import type { Step } from "@kiln/core";
import { CHROOT_ROOT, COMMUNICATOR } from "../../state.js";
import { ChrootCommunicator, type ChrootConfig } from "../communicator.js";
import type { ChrootStepOptions } from "../options.js";
import { commandWrapper } from "../placeholders.js";
import { teardownOf, undoOwn } from "./common.js";

export interface ChrootConnectHow {
  /** The environment commands start with (default DEFAULT_CHROOT_ENV). */
  env?: ChrootConfig["env"];
}

export function chrootConnectStep(
  o: Pick<ChrootStepOptions, "command_wrapper">,
  how: ChrootConnectHow = {},
): Step {
  const ids: number[] = [];
  return {
    name: "chroot-connect",
    async run(ctx) {
      const { mountPath } = ctx.state.require(CHROOT_ROOT);
      const comm = new ChrootCommunicator({
        root: mountPath,
        wrap: commandWrapper(ctx, o.command_wrapper),
        log: (l) => ctx.ui.message(l),
        ...(how.env ? { env: how.env } : {}),
      });
      ids.push(teardownOf(ctx).add("end the processes left in the chroot", () => comm.close()));
      await comm.connect(ctx.signal);
      ctx.ui.say(`Provisioning inside the chroot ${mountPath}.`);
      ctx.state.put(COMMUNICATOR, comm);
    },
    async cleanup(ctx) {
      ctx.state.delete(COMMUNICATOR);
      await undoOwn(ctx, ids.splice(0));
    },
  };
}
