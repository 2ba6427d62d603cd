/**
 * copy_files: each file of this machine copied to the same path in the chroot (the path resolved
 * inside it, a link there replaced rather than followed, as `cp --remove-destination` does). What
 * was there is set aside and put back on cleanup or by chrootTeardownStep, so the image keeps its
 * own /etc/resolv.conf (often a link into /run) instead of losing it.
 */
import { randomBytes } from "node:crypto";
import { lstat, open, readFile, rename, rm, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { KilnError, type Step } from "@kiln/core";
import { CHROOT_ROOT } from "../../state.js";
import { type ChrootStepOptions, DEFAULT_COPY_FILES } from "../options.js";
import { insideRoot, resolveInRoot } from "../paths.js";
import { teardownOf, undoOwn } from "./common.js";

export interface CopyFilesHow {
  /** copy_files when unset (default [/etc/resolv.conf]; a builder building from scratch passes []). */
  defaults?: readonly string[];
}

export function copyFilesStep(o: Pick<ChrootStepOptions, "copy_files">, how: CopyFilesHow = {}): Step {
  const ids: number[] = [];
  return {
    name: "copy-files",
    async run(ctx) {
      const { mountPath } = ctx.state.require(CHROOT_ROOT);
      const files = o.copy_files ?? how.defaults ?? DEFAULT_COPY_FILES;
      if (files.length === 0) return;
      ctx.ui.say("Copying files from this machine into the chroot...");
      for (const file of files) {
        if (!file.startsWith("/"))
          throw new KilnError("KILN_CHROOT_CONFIG", `copy_files: ${file} must be an absolute path`);
        const body = await readFile(file).catch((err: unknown) => {
          throw new KilnError(
            "KILN_CHROOT_COPY",
            `copy_files: cannot read ${file}: ${(err as Error).message}`,
          );
        });
        const mode = (await stat(file)).mode & 0o7777;
        const dest = await resolveInRoot(mountPath, file, { followFinal: false });
        const shown = insideRoot(mountPath, dest);
        if (!(await stat(dirname(dest)).catch(() => undefined))?.isDirectory())
          throw new KilnError(
            "KILN_CHROOT_COPY",
            `copy_files: cannot copy ${file}: the folder ${insideRoot(mountPath, dirname(dest))} does not exist in the chroot`,
            { hint: "Set copy_files: [] when the root filesystem is still empty." },
          );
        const old = await lstat(dest).catch(() => undefined);
        if (old?.isDirectory())
          throw new KilnError("KILN_CHROOT_COPY", `copy_files: ${shown} is a folder in the chroot`);
        const saved = old ? `${dest}.kiln-saved-${randomBytes(4).toString("hex")}` : undefined;
        if (saved) await rename(dest, saved);
        ids.push(
          teardownOf(ctx).add(`restore ${shown} in the chroot`, async () => {
            await rm(dest, { force: true });
            if (saved) await rename(saved, dest);
          }),
        );
        ctx.ui.message(file);
        // wx: created afresh, never through a link put there meanwhile.
        const fh = await open(dest, "wx", mode);
        try {
          await fh.writeFile(body);
          await fh.chmod(mode);
        } finally {
          await fh.close();
        }
      }
    },
    async cleanup(ctx) {
      await undoOwn(ctx, ids.splice(0));
    },
  };
}
