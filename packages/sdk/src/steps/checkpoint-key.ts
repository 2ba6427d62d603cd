/**
 * The temporary SSH key across checkpoints: a restored machine trusts the key of the run that
 * saved it, so a builder's checkpoint save keeps the key pair in the checkpoint (a 0600 file in
 * the 0700 cache) and its resume puts it back in place of `temporaryKeyStep`.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type CheckpointInfo, CheckpointUnusableError, type RunContext, type Step } from "@kiln/core";
import type { TemporaryKeyPair } from "../communicator/keys.js";
import { TEMPORARY_KEY } from "../state.js";

const FILE = "ssh-key.json";

/** Keep the run's temporary key (if it has one) in the checkpoint folder `dir`. */
export async function saveCheckpointKey(ctx: RunContext, dir: string): Promise<void> {
  const key = ctx.state.get(TEMPORARY_KEY);
  if (key) await writeFile(join(dir, FILE), JSON.stringify(key), { mode: 0o600 });
}

/**
 * The step that puts back the key saved with `point` (and build.SSHPublicKey), or, when the
 * machine was built without one, leaves build.SSHPublicKey as temporaryKeyStep would.
 */
export function restoredKeyStep(point: CheckpointInfo): Step {
  return {
    name: "ssh key",
    async run(ctx) {
      let text: string | undefined;
      try {
        text = await readFile(join(point.dir, FILE), "utf8");
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "ENOENT")
          throw new CheckpointUnusableError(`cannot read its SSH key: ${(e as Error).message}`);
      }
      if (!text) {
        ctx.buildVars.SSHPublicKey = ctx.buildVars.SSHPublicKey ?? "";
        return;
      }
      let key: TemporaryKeyPair;
      try {
        key = JSON.parse(text) as TemporaryKeyPair;
      } catch {
        throw new CheckpointUnusableError("its SSH key file is damaged");
      }
      ctx.secret(key.privateKey);
      ctx.buildVars.SSHPublicKey = key.publicKey;
      ctx.state.put(TEMPORARY_KEY, key);
      ctx.ui.message(`Using the temporary key the machine was saved with (${key.fingerprint}).`);
    },
    async cleanup(ctx) {
      ctx.state.delete(TEMPORARY_KEY);
    },
  };
}
