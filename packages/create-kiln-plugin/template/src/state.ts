/** What this builder's steps leave for later steps and for the artifact. */
import { stateKey } from "@kiln/core";

/** The artifact file, once written (in the staged output directory; moved into place at the end). */
export const ARTIFACT_FILE = stateKey<string>("__TYPE__.artifact-file");
