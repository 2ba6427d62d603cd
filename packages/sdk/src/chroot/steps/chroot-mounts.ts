/**
 * chroot_mounts: each [type, source, folder] mounted in the chroot (`mount -t type source …`, or
 * `mount --bind source …` for type bind, then made private so that mounts below it are not
 * passed back to this machine's folder). The folder is resolved inside the chroot and made when
 * missing. A binfmt_misc mount the kernel cannot make is skipped with a message (it only serves
 * other architectures' programs). Each is unmounted on cleanup or by chrootTeardownStep.
 */
import { mkdir } from "node:fs/promises";
import { KilnError, messageOf, type Step } from "@kiln/core";
import { CHROOT_ROOT } from "../../state.js";
import { unmountTree } from "../mounts.js";
import { type ChrootMountSpec, type ChrootStepOptions, DEFAULT_CHROOT_MOUNTS } from "../options.js";
import { resolveInRoot } from "../paths.js";
import { shellWord } from "../spawn.js";
import { hostFor, teardownOf, undoOwn } from "./common.js";

export function chrootMountsStep(o: Pick<ChrootStepOptions, "command_wrapper" | "chroot_mounts">): Step {
  const ids: number[] = [];
  return {
    name: "chroot-mounts",
    async run(ctx) {
      const host = hostFor(ctx, o);
      const { mountPath } = ctx.state.require(CHROOT_ROOT);
      const mounts: ChrootMountSpec[] = o.chroot_mounts ?? DEFAULT_CHROOT_MOUNTS;
      if (mounts.length === 0) return;
      ctx.ui.say("Mounting additional paths within the chroot...");
      for (const [type, source, folder] of mounts) {
        if (!folder.startsWith("/"))
          throw new KilnError("KILN_CHROOT_CONFIG", `chroot_mounts: the folder ${folder} must be absolute`);
        const target = await resolveInRoot(mountPath, folder);
        await mkdir(target, { recursive: true, mode: 0o755 });
        ids.push(teardownOf(ctx).add(`unmount ${folder} in the chroot`, () => unmountTree(host, target)));
        ctx.ui.message(`${folder} (${type === "bind" ? `bind of ${source}` : type})`);
        try {
          if (type === "bind") {
            await host.run(`mount --bind ${shellWord(source)} ${shellWord(target)}`, { signal: ctx.signal });
            await host.run(`mount --make-private ${shellWord(target)}`, { signal: ctx.signal });
          } else {
            await host.run(`mount -t ${shellWord(type)} ${shellWord(source)} ${shellWord(target)}`, {
              signal: ctx.signal,
            });
          }
        } catch (err) {
          if (type !== "binfmt_misc" || ctx.signal.aborted) throw err;
          ctx.ui.message(`skipping ${folder}: ${messageOf(err)}`);
        }
      }
    },
    async cleanup(ctx) {
      await undoOwn(ctx, ids.splice(0));
    },
  };
}
