#!/usr/bin/env node
// Writes, after tsc, the editor schema that ships in @kiln/cli (schema.json, served by CDNs at
// https://cdn.jsdelivr.net/npm/@kiln/cli@0/schema.json) and dist/standard-options.json (the
// standard set's option schemas, for `kiln schema` where a standard plugin is not installed).
// The standard packages are devDependencies, so they are built first; a standard type whose
// package is not in this workspace is listed as known, with its options unchecked.
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { KIND_KEY } from "@kiln/core";
import { STANDARD_OPTIONS_FILE, shippedSchema } from "../dist/schema/compose.js";
import { STANDARD_PLUGINS } from "../dist/standard.js";

const pkgDir = new URL("../", import.meta.url);
const require = createRequire(new URL("package.json", pkgDir));
const options = [];
const missing = new Set();
const unserved = [];
for (const [kind, types] of Object.entries(STANDARD_PLUGINS)) {
  for (const [type, pkg] of Object.entries(types)) {
    let doc;
    let version;
    try {
      doc = JSON.parse(readFileSync(require.resolve(`${pkg}/schema.json`), "utf8"));
      version = JSON.parse(readFileSync(require.resolve(`${pkg}/package.json`), "utf8")).version;
    } catch {
      missing.add(pkg);
      continue;
    }
    const schema = doc[KIND_KEY[kind]]?.[type];
    if (!schema) {
      // named by the standard set, not (yet) served by its package: not listed as known
      unserved.push(`${kind} ${type} (${pkg})`);
      continue;
    }
    options.push({ kind, type, package: pkg, version, schema });
  }
}
writeFileSync(new URL(STANDARD_OPTIONS_FILE, pkgDir), `${JSON.stringify(options)}\n`);
writeFileSync(new URL("schema.json", pkgDir), `${JSON.stringify(shippedSchema(options), null, 2)}\n`);
if (unserved.length > 0)
  process.stderr.write(
    `gen-schema: named by the standard set but not served by its package, so left out: ${unserved.join(", ")}\n`,
  );
if (missing.size > 0)
  process.stderr.write(
    `gen-schema: not in this workspace, so known without options: ${[...missing].sort().join(", ")}\n`,
  );
