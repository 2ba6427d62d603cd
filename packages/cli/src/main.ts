/**
 * The `kiln` command. Kept small so it starts fast: each command's module (and with it core,
 * ajv and yaml) is imported only when that command runs.
 */
import { type ParseArgsConfig, parseArgs } from "node:util";

import { type CommandContext, EXIT } from "./context.js";

export { type CommandContext, EXIT } from "./context.js";

interface CommandSpec {
  summary: string;
  usage: string;
  options: NonNullable<ParseArgsConfig["options"]>;
  load: () => Promise<{ run: (ctx: CommandContext) => Promise<number> }>;
}

const varOptions = {
  var: { type: "string", multiple: true },
  "var-file": { type: "string", multiple: true },
} as const;

const COMMANDS: Record<string, CommandSpec> = {
  build: {
    summary: "Run the builds of a build file",
    usage:
      "kiln build [--no-install] [--allow-scripts] [--only glob,…] [--except glob,…] [--parallel-builds N] [--force] [--on-error cleanup|abort|ask|pause] [--debug] [--timestamp-ui] [--json | --machine-readable] [--var k=v]... [--var-file f]... <file>",
    options: {
      ...varOptions,
      only: { type: "string", multiple: true },
      except: { type: "string", multiple: true },
      "parallel-builds": { type: "string" },
      force: { type: "boolean" },
      "on-error": { type: "string" },
      debug: { type: "boolean" },
      "timestamp-ui": { type: "boolean" },
      json: { type: "boolean" },
      "machine-readable": { type: "boolean" },
      "no-install": { type: "boolean" },
      "allow-scripts": { type: "boolean" },
    },
    load: () => import("./commands/build.js"),
  },
  init: {
    summary: "Install the plugins a build file needs into .kiln/plugins and write kiln.lock",
    usage: "kiln init [--upgrade] [--allow-scripts] [file]",
    options: { upgrade: { type: "boolean" }, "allow-scripts": { type: "boolean" } },
    load: () => import("./commands/init.js"),
  },
  plugins: {
    summary: "List, install or remove the project's plugins (.kiln/plugins, kiln.lock)",
    usage:
      "kiln plugins list | install [--allow-scripts] <package[@range]>... | remove <package>...  [--dir <folder>] [--json]",
    options: { dir: { type: "string" }, json: { type: "boolean" }, "allow-scripts": { type: "boolean" } },
    load: () => import("./commands/plugins.js"),
  },
  validate: {
    summary: "Check a build file: syntax, structure, plugins, variables and expressions",
    usage: "kiln validate [--syntax-only] [--var k=v]... [--var-file f]... <file>",
    options: { ...varOptions, "syntax-only": { type: "boolean" } },
    load: () => import("./commands/validate.js"),
  },
  import: {
    summary: "Translate Packer templates (HCL2, .pkr.json or legacy JSON) into a kiln build file",
    usage:
      "kiln import [-o out.yaml] [--var-file x.pkrvars.hcl]... [--check] [--force] <template or folder>...",
    options: {
      output: { type: "string", short: "o" },
      "var-file": { type: "string", multiple: true },
      check: { type: "boolean" },
      force: { type: "boolean" },
    },
    load: () => import("./commands/import.js"),
  },
  inspect: {
    summary: "Show a build file's variables, sources, builds and the plugins that serve them",
    usage: "kiln inspect [--var k=v]... [--var-file f]... <file>",
    options: { ...varOptions, json: { type: "boolean" } },
    load: () => import("./commands/inspect.js"),
  },
  fmt: {
    summary: "Rewrite build files in canonical form (comments kept)",
    usage: "kiln fmt [--check] [--diff] <file>...",
    options: { check: { type: "boolean" }, diff: { type: "boolean" } },
    load: () => import("./commands/fmt.js"),
  },
  schema: {
    summary: "Print the JSON Schema of build files (composed with a file's plugins when given one)",
    usage: "kiln schema [file]",
    options: {},
    load: () => import("./commands/schema.js"),
  },
  version: {
    summary: "Print the versions of kiln and its core",
    usage: "kiln version",
    options: {},
    load: () => import("./commands/version.js"),
  },
};

function help(): string {
  const names = Object.keys(COMMANDS);
  const width = Math.max(...names.map((n) => n.length));
  return [
    "kiln — build machine images from YAML build files",
    "",
    "Usage: kiln <command> [options]",
    "",
    "Commands:",
    ...names.map((n) => `  ${n.padEnd(width)}  ${COMMANDS[n]?.summary}`),
    "",
    "Exit codes: 0 ok, 1 build failed, 2 invalid input or usage, 3 fmt --check found unformatted files.",
    "Run `kiln <command> --help` for a command's options.",
    "",
  ].join("\n");
}

export async function main(
  argv: string[],
  io: { stdout?: NodeJS.WritableStream; stderr?: NodeJS.WritableStream } = {},
): Promise<number> {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  const [name, ...rest] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    stdout.write(help());
    return name === undefined ? EXIT.INVALID : EXIT.OK;
  }
  if (name === "--version" || name === "-v") return main(["version"], io);
  const spec = COMMANDS[name];
  if (!spec) {
    const known = Object.keys(COMMANDS);
    const close = known.find((k) => k.startsWith(name.slice(0, 3)));
    stderr.write(
      `kiln: unknown command "${name}"${close ? `; did you mean "${close}"?` : ""}\nRun \`kiln help\` for the list of commands.\n`,
    );
    return EXIT.INVALID;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    stdout.write(`${spec.summary}\n\nUsage: ${spec.usage}\n`);
    return EXIT.OK;
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: rest,
      options: { ...spec.options, "no-color": { type: "boolean" } },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    stderr.write(`kiln ${name}: ${(err as Error).message}\nUsage: ${spec.usage}\n`);
    return EXIT.INVALID;
  }
  const noColor = parsed.values["no-color"] === true || "NO_COLOR" in process.env;
  const color = !noColor && (stderr as NodeJS.WriteStream).isTTY === true;
  const mod = await spec.load();
  return mod.run({
    args: rest,
    values: parsed.values as CommandContext["values"],
    positionals: parsed.positionals,
    stdout,
    stderr,
    color,
  });
}
