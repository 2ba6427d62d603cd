/**
 * Attach a disk image file as loop devices (partitions by scanning, or each by its offset) and
 * put the device in CHROOT_DEVICE; the loop devices are detached on cleanup or by
 * chrootTeardownStep. For builders that work on an image file (a volume file, a converted qcow2).
 */
import type { RunContext, Step } from "@kiln/core";
import { CHROOT_DEVICE } from "../../state.js";
import { attachImage, detachImage, newAttachment, type PartitionMode } from "../loop.js";
import type { ChrootStepOptions } from "../options.js";
import { hostFor, teardownOf, undoOwn } from "./common.js";

export interface AttachImageHow {
  /** The image file (raw), or how to find it once earlier steps ran. */
  image: string | ((ctx: RunContext) => string);
  /** How partitions get nodes (default scan: losetup -P, then partx -a). */
  partitions?: PartitionMode;
  readOnly?: boolean;
  /** How long partition nodes may take to appear (default 10 s). */
  timeoutMs?: number;
}

export function attachImageStep(o: Pick<ChrootStepOptions, "command_wrapper">, how: AttachImageHow): Step {
  const ids: number[] = [];
  return {
    name: "attach-image",
    async run(ctx) {
      const host = hostFor(ctx, o);
      const image = typeof how.image === "function" ? how.image(ctx) : how.image;
      const attached = newAttachment(image, how.partitions);
      // Registered before anything is attached, so that an interrupt at any point detaches what exists.
      ids.push(
        teardownOf(ctx).add(`detach ${image}`, async () => {
          if (attached.loops.length > 0 || attached.preexisting) {
            ctx.ui.message(`Detaching ${attached.loops.join(", ") || image}...`);
            await detachImage(host, attached, { log: (l) => ctx.ui.message(l) });
          }
        }),
      );
      ctx.ui.say(`Attaching ${image} as a loop device...`);
      await attachImage(
        host,
        image,
        {
          signal: ctx.signal,
          ...(how.readOnly ? { readOnly: true } : {}),
          ...(how.timeoutMs ? { timeoutMs: how.timeoutMs } : {}),
        },
        attached,
      );
      const parts = Object.entries(attached.partitions);
      ctx.ui.message(
        `${attached.device}${parts.length ? ` (partitions: ${parts.map(([n, d]) => `${n} ${d}`).join(", ")})` : ""}`,
      );
      ctx.state.put(CHROOT_DEVICE, { device: attached.device, partitions: { ...attached.partitions } });
    },
    async cleanup(ctx) {
      await undoOwn(ctx, ids.splice(0));
    },
  };
}
