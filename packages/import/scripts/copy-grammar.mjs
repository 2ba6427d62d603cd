#!/usr/bin/env node
// Ships tree-sitter's HCL grammar (.wasm, Apache-2.0, with its licence) in dist/grammar, so that
// installing @kiln/import never runs the grammar package's native install script: only the
// WebAssembly build is used, by web-tree-sitter.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const pkgJson = require.resolve("@tree-sitter-grammars/tree-sitter-hcl/package.json");
const from = dirname(pkgJson);
const { name, version, license } = JSON.parse(readFileSync(pkgJson, "utf8"));
const to = fileURLToPath(new URL("../dist/grammar/", import.meta.url));
mkdirSync(to, { recursive: true });
copyFileSync(join(from, "tree-sitter-hcl.wasm"), join(to, "tree-sitter-hcl.wasm"));
copyFileSync(join(from, "LICENSE"), join(to, "LICENSE"));
writeFileSync(
  join(to, "README.md"),
  `tree-sitter-hcl.wasm is from ${name}@${version} (${license}); its licence is in LICENSE.\n`,
);
