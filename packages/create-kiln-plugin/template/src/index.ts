/**
 * The kiln builder "__TYPE__". Its options are described by a JSON Schema (shipped as schema.json,
 * generated from this file by `kiln-plugin-schema`), so kiln validates build files without
 * loading this code; `create()` is only called when a build runs.
 *
 * This example "builds" a text file. Replace the steps with your own: create a machine, connect,
 * `ctx.provisionStep()`, make the image. Every step may have a cleanup; kiln runs the cleanup of
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
    output_directory: {
      type: "string",
      description: "Where the artifact goes (relative to the build file).",
      default: "output-__TYPE__",
    },
    message: { type: "string", description: "What to write.", default: "built by __NAME__" },
    api_token: {
      type: "string",
      description: "An example secret: registered with ctx.secret() so kiln never prints it.",
    },
  },
} as const;

const DONE = "__TYPE__.done";
const outDir = (o: Options, ctx: RunContext) => {
  const d = o.output_directory ?? "output-__TYPE__";
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
        c.ui.say(`Created ${outDir(options, c)}`);
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
        await writeFile(
          join(outDir(options, c), "artifact.txt"),
          `${options.message ?? "built by __NAME__"}\n`,
        );
        c.state.put(DONE, true);
      },
    },
  ],
  artifact: (options, ctx) => {
    const file = join(outDir(options, ctx), "artifact.txt");
    return {
      builderType: "__TYPE__",
      id: file,
      files: [file],
      description: `__TYPE__: ${file}`,
      destroy: () => rm(file, { force: true }),
    };
  },
};

export const builder = defineBuilder<BuilderRuntime<Options>>({
  type: "__TYPE__",
  description: "An example builder made with create-kiln-plugin.",
  schema,
  create: () => runtime,
});

export default definePlugin({ name: "__NAME__", builders: [builder] });
