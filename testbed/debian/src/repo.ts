/** Where the repository's CLI and the Exoscale example are, for tests that run `kiln`. */
import path from "node:path";
import { DEBIAN_DIR } from "./image.js";

export const REPO: string = path.resolve(DEBIAN_DIR, "../..");
export const KILN_BIN: string = path.join(REPO, "packages/cli/bin.js");
export const EXAMPLE: string = path.join(REPO, "examples/exoscale/debian.yaml");
