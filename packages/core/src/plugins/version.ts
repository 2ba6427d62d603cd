import { readFileSync } from "node:fs";
import satisfies from "semver/functions/satisfies.js";
import validRange from "semver/ranges/valid.js";

/** Set by a bundler that inlines core (the @kiln/cli bundle): there is no package.json beside the code. */
declare const __KILN_CORE_VERSION__: string | undefined;

let version: string | undefined;

/** The version of this copy of @kiln/core. */
export function coreVersion(): string {
  version ??=
    typeof __KILN_CORE_VERSION__ === "string"
      ? __KILN_CORE_VERSION__
      : String(JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")).version);
  return version;
}

/** semver range check that includes prereleases and treats a malformed range as unsatisfied. */
export function satisfiesRange(v: string, range: string): boolean {
  if (validRange(range) === null) return false;
  return satisfies(v, range, { includePrerelease: true });
}
