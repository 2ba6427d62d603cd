// create-kiln-plugin: scaffold a third-party kiln builder package. No dependencies, plain ESM.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { parseArgs } from "node:util";

const self = JSON.parse(readFileSync(new URL("./package.json", import.meta.url), "utf8"));
const RANGES = self.kilnTemplate ?? { core: "^0.1.0", sdk: "^0.1.0" };

/** `kiln-builder-foo` / `@acme/kiln-builder-foo` / `@kiln/builder-foo` → `foo`. */
export function typeFromName(name) {
  const last = name.split("/").pop() ?? name;
  return last
    .replace(/^kiln-builder-/, "")
    .replace(/^builder-/, "")
    .replace(/^kiln-/, "");
}

const TYPE_RE = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
const NAME_RE = /^(@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]*$/;

/** Write the package into opts.dir. Returns what it wrote. */
export function scaffold(opts) {
  const dir = resolve(opts.dir);
  const base = basename(dir);
  const name = opts.name ?? (base.startsWith("kiln-builder-") ? base : `kiln-builder-${base}`);
  const type = opts.type ?? typeFromName(name);
  if (!NAME_RE.test(name)) throw new Error(`"${name}" is not a valid npm package name`);
  if (!TYPE_RE.test(type))
    throw new Error(`"${type}" is not a valid builder type: lower-case words joined by -, e.g. my-cloud`);
  if (existsSync(dir) && readdirSync(dir).length > 0) throw new Error(`${dir} is not empty`);
  const files = {
    "package.json": `${JSON.stringify(
      {
        name,
        version: "0.1.0",
        description: `kiln builder "${type}"`,
        license: "MIT",
        type: "module",
        keywords: ["kiln-plugin", "kiln", "packer"],
        kiln: { api: "1", builders: [type] },
        engines: { node: ">=20.19" },
        exports: {
          ".": { types: "./dist/index.d.ts", default: "./dist/index.js" },
          "./schema.json": "./schema.json",
          "./package.json": "./package.json",
        },
        main: "./dist/index.js",
        types: "./dist/index.d.ts",
        files: ["dist", "schema.json"],
        sideEffects: false,
        scripts: {
          build: "tsc -p tsconfig.json && kiln-plugin-schema",
          test: "vitest run",
          prepublishOnly: "npm run build && npm test",
        },
        peerDependencies: { "@kiln/core": RANGES.core },
        devDependencies: {
          "@kiln/core": RANGES.core,
          "@kiln/sdk": RANGES.sdk,
          "@types/node": "^20.19.0",
          typescript: "^5.9.3",
          vitest: "^4.1.12",
        },
      },
      null,
      2,
    )}\n`,
    "tsconfig.json": `${JSON.stringify(
      {
        compilerOptions: {
          target: "ES2022",
          module: "NodeNext",
          moduleResolution: "NodeNext",
          lib: ["ES2023"],
          strict: true,
          declaration: true,
          skipLibCheck: true,
          types: ["node"],
          rootDir: "src",
          outDir: "dist",
        },
        include: ["src"],
        exclude: ["src/**/*.test.ts"],
      },
      null,
      2,
    )}\n`,
    "src/index.ts": `/**
 * The kiln builder "${type}". Its options are described by a JSON Schema (shipped as schema.json,
 * generated from this file by \`kiln-plugin-schema\`), so kiln validates build files without
 * loading this code; \`create()\` is only called when a build runs.
 *
 * This example "builds" a text file. Replace the steps with your own: create a machine, connect,
 * \`ctx.provisionStep()\`, make the image. Every step may have a cleanup; kiln runs the cleanup of
 * every step that began, on success, failure and Ctrl-C.
 */
import { mkdir, rm, writeFile } from "node:fs/promises";
import { isAbsolute, join } from "node:path";
import { type BuilderRuntime, defineBuilder, definePlugin, type RunContext } from "@kiln/core";

export interface Options {
  output_directory?: string;
  message?: string;
  api_token?: string;
}

export const schema = {
  type: "object",
  description: "An example builder: writes a file with a message into output_directory.",
  additionalProperties: false,
  properties: {
    output_directory: { type: "string", description: "Where the artifact goes (relative to the build file).", default: "output-${type}" },
    message: { type: "string", description: "What to write.", default: "built by ${name}" },
    api_token: { type: "string", description: "An example secret: registered with ctx.secret() so kiln never prints it." },
  },
} as const;

const DONE = "${type}.done";
const outDir = (o: Options, ctx: RunContext) => {
  const d = o.output_directory ?? "output-${type}";
  return isAbsolute(d) ? d : join(ctx.baseDir, d);
};

export const runtime: BuilderRuntime<Options> = {
  prepare(options, ctx) {
    if (options.api_token) ctx.secret(options.api_token);
  },
  steps: (options, ctx) => [
    {
      name: "create output directory",
      async run(c) {
        await mkdir(outDir(options, c), { recursive: true });
        c.ui.say(\`Created \${outDir(options, c)}\`);
      },
      // Keep the output of a build that succeeded; remove it after a failure or an interrupt.
      async cleanup(c) {
        if (!c.state.get(DONE)) await rm(outDir(options, c), { recursive: true, force: true });
      },
    },
    ctx.provisionStep(),
    {
      name: "write artifact",
      async run(c) {
        await writeFile(join(outDir(options, c), "artifact.txt"), \`\${options.message ?? "built by ${name}"}\\n\`);
        c.state.put(DONE, true);
      },
    },
  ],
  artifact: (options, ctx) => {
    const file = join(outDir(options, ctx), "artifact.txt");
    return {
      builderType: "${type}",
      id: file,
      files: [file],
      description: \`${type}: \${file}\`,
      destroy: () => rm(file, { force: true }),
    };
  },
};

export const builder = defineBuilder<BuilderRuntime<Options>>({
  type: "${type}",
  description: "An example builder made with create-kiln-plugin.",
  schema,
  create: () => runtime,
});

export default definePlugin({ name: "${name}", builders: [builder] });
`,
    "src/conformance.test.ts": `// kiln's shared conformance suite: option validation, events, artifact shape, cleanup on failure
// and on abort, secrets. The first-party builders run the same suite.
import { testBuilder } from "@kiln/sdk/conformance";
import plugin from "./index.js";

testBuilder({
  plugin,
  type: "${type}",
  example: { output_directory: "output-test", message: "hello", api_token: "example-token-123456" },
  invalid: [{ message: 42 }, { output_directory: ["not", "a", "string"] }],
});
`,
    "example.kiln.yaml": `# A build file that uses this plugin. After \`npm publish\`, in any folder:
#   npx @kiln/cli init example.kiln.yaml && npx @kiln/cli build example.kiln.yaml
kiln: 1
plugins:
  ${type}: "${name}@^0.1.0"
sources:
  example:
    type: ${type}
    output_directory: output-example
    message: "Hello from ${name}"
builds:
  - name: example
    sources: [example]
`,
    "README.md": `# ${name}

A [kiln](https://github.com/kiln-build/kiln) builder plugin providing the builder type \`${type}\`.

\`\`\`sh
npm install
npm run build   # tsc, then kiln-plugin-schema writes schema.json from src/index.ts
npm test        # kiln's conformance suite (@kiln/sdk/conformance)
npm publish
\`\`\`

Use it from a build file (see example.kiln.yaml): kiln finds \`${name}\` by the \`plugins:\` map,
or by its name (\`kiln-builder-<type>\`), and installs it with \`kiln init\`.
`,
    ".gitignore": "node_modules/\ndist/\nschema.json\noutput-*/\n.kiln/\n",
  };
  for (const [rel, text] of Object.entries(files)) {
    const file = join(dir, rel);
    mkdirSync(join(file, ".."), { recursive: true });
    writeFileSync(file, text);
  }
  return { dir, name, type, files: Object.keys(files) };
}

const USAGE = "Usage: npm create kiln-plugin <dir> [-- --name <package> --type <builder type>]";

export async function main(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { name: { type: "string" }, type: { type: "string" }, help: { type: "boolean", short: "h" } },
    });
  } catch (err) {
    process.stderr.write(`create-kiln-plugin: ${err.message}\n${USAGE}\n`);
    return 2;
  }
  if (parsed.values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const [dir] = parsed.positionals;
  if (!dir) {
    process.stderr.write(`create-kiln-plugin: name the folder to create\n${USAGE}\n`);
    return 2;
  }
  try {
    const r = scaffold({
      dir,
      ...(parsed.values.name ? { name: parsed.values.name } : {}),
      ...(parsed.values.type ? { type: parsed.values.type } : {}),
    });
    process.stdout.write(
      `Created ${r.name} (builder "${r.type}") in ${r.dir}:\n${r.files.map((f) => `  ${f}`).join("\n")}\n\nNext:\n  cd ${dir}\n  npm install\n  npm run build\n  npm test\n`,
    );
    return 0;
  } catch (err) {
    process.stderr.write(`create-kiln-plugin: ${err.message}\n`);
    return 2;
  }
}
