#!/usr/bin/env node
// Bundles the CLI (tsc's dist/, with @kiln/core and the small libraries it uses) with esbuild
// into one CommonJS file, bundle/kiln.cjs, that bin.js loads with its compiled code cached
// (src/start.ts). A cold `kiln validate` then reads one file instead of some 250 modules. Left
// out, and loaded from node_modules when needed: ajv (only when a validator is not cached yet,
// and the runtime helpers that cached validators require) and diff (`kiln fmt --diff`).
// The licences of what is inlined go to bundle/THIRD-PARTY-LICENSES.txt.
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const pkgDir = fileURLToPath(new URL("../", import.meta.url));
const require = createRequire(join(pkgDir, "package.json"));
const coreVersion = JSON.parse(readFileSync(require.resolve("@kiln/core/package.json"), "utf8")).version;
const outdir = join(pkgDir, "bundle");
rmSync(outdir, { recursive: true, force: true });

const result = await build({
  entryPoints: [join(pkgDir, "dist/main.js")],
  outfile: join(outdir, "kiln.cjs"),
  bundle: true,
  format: "cjs",
  platform: "node",
  target: "node20.19",
  // @kiln/import (web-tree-sitter and its grammar's wasm) stays a package of its own, loaded only
  // by `kiln import`.
  external: ["ajv", "ajv/*", "diff", "@kiln/import"],
  // The sources are ES modules: import.meta.url is this file's URL. Plugin modules are imported
  // through the loader's function when it passes one (src/start.ts says why).
  banner: {
    js: [
      'const __kilnImportMetaUrl = require("node:url").pathToFileURL(__filename).href;',
      'const __kilnImport = typeof __kilnHostImport === "function" ? __kilnHostImport : (s) => import(s);',
    ].join("\n"),
  },
  plugins: [
    {
      name: "kiln-host-import",
      setup(b) {
        // the one import() of a computed specifier: @kiln/core loading a plugin's module
        b.onLoad({ filter: /[\\/]core[\\/]dist[\\/]plugins[\\/]runtime\.js$/ }, (args) => {
          const text = readFileSync(args.path, "utf8");
          const n = text.split("await import(").length - 1;
          if (n !== 1)
            throw new Error(`${args.path}: expected one import() to route through __kilnImport, found ${n}`);
          return { contents: text.replace("await import(", "await __kilnImport("), loader: "js" };
        });
        // `kiln import` loads @kiln/import (external) the same way.
        b.onLoad({ filter: /[\\/]cli[\\/]dist[\\/]commands[\\/]import\.js$/ }, (args) => {
          const text = readFileSync(args.path, "utf8");
          const from = 'await import("@kiln/import")';
          if (!text.includes(from)) throw new Error(`${args.path}: expected ${from}`);
          return { contents: text.replace(from, 'await __kilnImport("@kiln/import")'), loader: "js" };
        });
      },
    },
  ],
  define: { "import.meta.url": "__kilnImportMetaUrl", __KILN_CORE_VERSION__: JSON.stringify(coreVersion) },
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: "none",
  charset: "ascii",
  metafile: true,
  logLevel: "warning",
});

// ASCII only, so that the loader reads it as Latin-1: no UTF-8 decoding at every start.
const nonAscii = readFileSync(join(outdir, "kiln.cjs")).findIndex((b) => b > 0x7f);
if (nonAscii >= 0)
  throw new Error(`bundle/kiln.cjs is not ASCII at byte ${nonAscii}: escape the character in the source`);

// Any other import() in the bundle would fail once the code comes from V8's cache.
const out = readFileSync(join(outdir, "kiln.cjs"), "utf8");
const imports = out.match(/\bimport\(/g)?.length ?? 0;
if (imports !== 1)
  throw new Error(
    `bundle/kiln.cjs has ${imports - 1} import() besides the banner's: route them through __kilnImport`,
  );

// Licences of the third-party packages inlined.
const packages = new Map();
for (const input of Object.keys(result.metafile.inputs)) {
  const m = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(
    input.replace(/.*node_modules\/\.pnpm\/[^/]+\//, ""),
  );
  if (!m) continue;
  const file = join(pkgDir, input);
  let dir = dirname(file);
  while (
    !existsSync(join(dir, "package.json")) ||
    JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).name !== m[1]
  )
    dir = dirname(dir);
  packages.set(m[1], dir);
}
const sections = [...packages]
  .sort(([a], [b]) => a.localeCompare(b))
  .map(([name, dir]) => {
    const pj = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
    const lic = readdirSync(dir).find((f) => /^(licen[cs]e|copying)([.-]|$)/i.test(f));
    if (!lic) throw new Error(`${name}: no licence file to ship with the bundle`);
    return `${name}@${pj.version} (${pj.license})\n\n${readFileSync(join(dir, lic), "utf8").trim()}\n`;
  });
writeFileSync(
  join(outdir, "THIRD-PARTY-LICENSES.txt"),
  `The kiln CLI bundle includes these packages:\n\n${sections.join(`\n${"-".repeat(72)}\n\n`)}`,
);
