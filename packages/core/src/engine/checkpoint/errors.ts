/** The errors of checkpoints. */
import { KilnError } from "../../errors.js";

export const CHECKPOINT_UNUSABLE = "KILN_CHECKPOINT_UNUSABLE";
export const CHECKPOINT_SAVE = "KILN_CHECKPOINT_SAVE";
export const CACHE_DIR = "KILN_CACHE_DIR";

/**
 * A checkpoint that cannot be brought back (another hypervisor version, a file missing or
 * damaged, a machine that does not answer after the restore). A builder's resume steps throw
 * it; the engine then cleans up, warns, and runs from an earlier checkpoint or from the start.
 */
export class CheckpointUnusableError extends KilnError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(CHECKPOINT_UNUSABLE, message, {
      ...options,
      hint: "kiln runs from an earlier checkpoint instead; `kiln cache prune` removes the cache.",
    });
  }
}
