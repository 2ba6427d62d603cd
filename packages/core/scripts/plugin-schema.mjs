#!/usr/bin/env node
// Writes a plugin package's schema.json from its definePlugin (dist/index.js), so the schemas
// that validation reads without loading plugin code come from the one source of truth.
// Run from the package folder after tsc.
import { writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { pluginSchemaDocument } from "../dist/index.js";

const dir = process.cwd();
const mod = await import(pathToFileURL(`${dir}/dist/index.js`).href);
const plugin = mod.default;
if (!plugin || plugin.kilnApi === undefined) {
  process.stderr.write(`${dir}: dist/index.js has no default export made with definePlugin()\n`);
  process.exit(1);
}
writeFileSync(`${dir}/schema.json`, `${JSON.stringify(pluginSchemaDocument(plugin), null, 2)}\n`);
