/**
 * Mount the root device: the partition mount_partition of CHROOT_DEVICE ("0": the whole device;
 * nvme_device_path: that device instead), once its node exists, at mount_path (made if missing,
 * removed again afterwards if kiln made it), with each of mount_options as -o. Sets CHROOT_ROOT
 * and build.Device / build.MountPath. Undone (everything mounted below it too) on cleanup or by
 * chrootTeardownStep.
 */
import { mkdir, readdir, rmdir } from "node:fs/promises";
import { basename, dirname, resolve } from "node:path";
import { KilnError, type Step } from "@kiln/core";
import { CHROOT_DEVICE, CHROOT_ROOT } from "../../state.js";
import { partitionPath, waitForBlockDevice } from "../loop.js";
import { isMountPoint, unmountTree } from "../mounts.js";
import { type ChrootStepOptions, DEFAULT_MOUNT_PATH } from "../options.js";
import { renderWith } from "../placeholders.js";
import { shellWord } from "../spawn.js";
import { hostFor, teardownOf, undoOwn } from "./common.js";

export interface MountDeviceHow {
  /** How long the device node may take to appear (default 2 minutes). */
  deviceTimeoutMs?: number;
}

/** The device to mount for these options. */
export function rootDevice(
  o: Pick<ChrootStepOptions, "mount_partition" | "nvme_device_path">,
  dev: { device: string; partitions?: Record<string, string> },
): string {
  if (o.nvme_device_path) return o.nvme_device_path;
  const part = o.mount_partition ?? "1";
  if (part === "0") return dev.device;
  const known = dev.partitions?.[part];
  if (known) return known;
  // A device whose partition table was read (an attached image): a missing partition will not appear.
  if (dev.partitions !== undefined) {
    const have = Object.keys(dev.partitions);
    throw new KilnError(
      "KILN_CHROOT_MOUNT",
      `${dev.device} has no partition ${part} (${have.length ? `it has ${have.join(", ")}` : "it has no partition table"})`,
      {
        hint: have.length
          ? `Set mount_partition to one of ${have.join(", ")}.`
          : 'Set mount_partition: "0" to mount the whole device.',
      },
    );
  }
  return partitionPath(dev.device, part);
}

/** Remove `dir` and its parents up to `top` (the first folder mkdir made), while they are empty. */
async function removeMade(dir: string, top: string | undefined): Promise<void> {
  if (!top) return;
  for (let d = dir; ; d = dirname(d)) {
    if ((await readdir(d).catch(() => ["?"])).length > 0) return;
    await rmdir(d).catch(() => {});
    if (d === top || d === dirname(d)) return;
  }
}

export function mountDeviceStep(
  o: Pick<
    ChrootStepOptions,
    "command_wrapper" | "mount_partition" | "mount_path" | "mount_options" | "nvme_device_path"
  >,
  how: MountDeviceHow = {},
): Step {
  const ids: number[] = [];
  return {
    name: "mount-device",
    async run(ctx) {
      const host = hostFor(ctx, o);
      const dev = ctx.state.require(CHROOT_DEVICE);
      const device = rootDevice(o, dev);
      const mountPath = resolve(
        ctx.baseDir,
        renderWith(ctx, "mount_path", o.mount_path, { Device: basename(dev.device) }, DEFAULT_MOUNT_PATH),
      );
      ctx.ui.say(`Waiting for ${device}...`);
      await waitForBlockDevice(device, how.deviceTimeoutMs ?? 120_000, ctx.signal);
      if (await isMountPoint(mountPath))
        throw new KilnError("KILN_CHROOT_MOUNT", `something is mounted at ${mountPath} already`, {
          hint: "Another build may be using it: give this one its own mount_path, or unmount it.",
        });
      const made = await mkdir(mountPath, { recursive: true, mode: 0o755 });
      ids.push(
        teardownOf(ctx).add(`unmount ${mountPath}`, async () => {
          ctx.ui.message(`Unmounting ${mountPath}...`);
          await unmountTree(host, mountPath, { log: (l) => ctx.ui.message(l) });
          await removeMade(mountPath, made);
        }),
      );
      const opts = (o.mount_options ?? []).map((x) => `-o ${shellWord(x)} `).join("");
      ctx.ui.say(`Mounting ${device} at ${mountPath}...`);
      await host.run(`mount ${opts}${shellWord(device)} ${shellWord(mountPath)}`, { signal: ctx.signal });
      ctx.buildVars.Device = dev.device;
      ctx.buildVars.MountPath = mountPath;
      ctx.state.put(CHROOT_ROOT, { mountPath, device });
    },
    async cleanup(ctx) {
      ctx.state.delete(CHROOT_ROOT);
      await undoOwn(ctx, ids.splice(0));
    },
  };
}
