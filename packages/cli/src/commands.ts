/**
 * Every command, its flags and examples, declared once: the parser (args.ts) and the help
 * (help.ts) are made from this table. Each command's module is imported only when it runs.
 */
import type { CommandContext } from "./context.js";

export interface Flag {
  name: string;
  /** A flag that takes a value names it here (`--var <name=value>`); boolean flags have none. */
  arg?: string;
  /** May be given more than once; the values are kept in order. */
  multiple?: boolean;
  /** A one-letter alias, written `-o` (its value is kept under `name`). */
  short?: string;
  help: string;
}

export interface CommandSpec {
  name: string;
  summary: string;
  /** What follows the flags, e.g. `<file|folder>`. */
  operands: string;
  flags: Flag[];
  /** `[command line, what it does]` */
  examples: Array<[string, string]>;
  load: () => Promise<{ run: (ctx: CommandContext) => Promise<number> }>;
}

const vars: Flag[] = [
  { name: "var", arg: "name=value", multiple: true, help: "set a variable (repeatable; later wins)" },
  {
    name: "var-file",
    arg: "file",
    multiple: true,
    help: "read variables from a YAML or JSON file (repeatable)",
  },
];

/** Flags every command takes. */
export const COMMON_FLAGS: Flag[] = [
  { name: "no-color", help: "no colours (NO_COLOR=1 does the same)" },
  { name: "help", help: "show this help" },
];

export const COMMANDS: CommandSpec[] = [
  {
    name: "build",
    summary: "Run the builds of a build file",
    operands: "<file|folder>",
    flags: [
      {
        name: "only",
        arg: "glob,…",
        multiple: true,
        help: "run only the runs (build.type.source) that match",
      },
      { name: "except", arg: "glob,…", multiple: true, help: "skip the runs that match" },
      { name: "parallel-builds", arg: "n", help: "at most n runs at once (default 0: all at once)" },
      { name: "force", help: "replace output that exists (output directories, artifacts)" },
      { name: "on-error", arg: "mode", help: "after a failed step: cleanup (default), abort, ask or pause" },
      { name: "debug", help: "pause before each step until Enter is pressed" },
      { name: "timestamp-ui", help: "begin each output line with its time" },
      { name: "json", help: "print every event as one JSON line (NDJSON), nothing else" },
      { name: "machine-readable", help: "print Packer's machine-readable lines (time,target,type,data…)" },
      ...vars,
      { name: "no-install", help: "never install missing plugins; fail instead" },
      { name: "allow-scripts", help: "let npm run the install scripts of the plugins it installs" },
      { name: "no-cache", help: "neither resume from checkpoints nor save them (docs/checkpoints.md)" },
      {
        name: "cache-dir",
        arg: "dir",
        help: "keep checkpoints in dir/checkpoints (default: $XDG_CACHE_HOME/kiln)",
      },
    ],
    examples: [
      ["kiln build .", "the kiln.yaml (or only *.kiln.yaml) of this folder"],
      [
        "kiln build --force image.kiln.yaml",
        "rebuild: resumes the saved machine from the first changed step",
      ],
      ["kiln build --only 'debian.*' --var version=12 image.kiln.yaml", "one build, one variable set"],
      ["kiln build -var version=12 -on-error=ask image.kiln.yaml", "Packer's spelling works too"],
    ],
    load: () => import("./commands/build.js"),
  },
  {
    name: "cache",
    summary: "List or prune the checkpoints kiln keeps to resume builds",
    operands: "list | prune",
    flags: [
      { name: "json", help: "list: print the checkpoints as JSON" },
      {
        name: "keep-size",
        arg: "size",
        help: "prune: remove the least recently used until at most size is left (20GiB)",
      },
      { name: "cache-dir", arg: "dir", help: "the cache folder (default: $XDG_CACHE_HOME/kiln)" },
    ],
    examples: [
      ["kiln cache list", "each checkpoint: key, run, step, size, last use"],
      ["kiln cache prune --keep-size 20GiB", "make room, least recently used first"],
    ],
    load: () => import("./commands/cache.js"),
  },
  {
    name: "validate",
    summary: "Check a build file: syntax, structure, plugins, variables and expressions",
    operands: "<file|folder>",
    flags: [
      { name: "syntax-only", help: "check YAML and structure only (no plugins, no variables)" },
      ...vars,
    ],
    examples: [
      ["kiln validate .", "check this folder's build file"],
      ["kiln validate --var-file prod.yaml image.kiln.yaml", "with the variables of prod.yaml"],
    ],
    load: () => import("./commands/validate.js"),
  },
  {
    name: "import",
    summary: "Translate Packer templates (HCL2, .pkr.json or legacy JSON) into a kiln build file",
    operands: "<template or folder>...",
    flags: [
      {
        name: "output",
        short: "o",
        arg: "file",
        help: "where to write the build file (default: beside the template)",
      },
      {
        name: "var-file",
        arg: "file",
        multiple: true,
        help: "a .pkrvars.hcl / .json variables file to translate too (repeatable)",
      },
      { name: "check", help: "print the report only; write nothing" },
      { name: "force", help: "overwrite an existing output" },
    ],
    examples: [
      ["kiln import ./packer -o image.kiln.yaml", "a folder of *.pkr.hcl files, as Packer reads it"],
      ["kiln import --check template.json", "what a legacy JSON template would become, nothing written"],
    ],
    load: () => import("./commands/import.js"),
  },
  {
    name: "inspect",
    summary: "Show a build file's variables, sources, builds and the plugins that serve them",
    operands: "<file|folder>",
    flags: [{ name: "json", help: "print it as JSON" }, ...vars],
    examples: [["kiln inspect --json image.kiln.yaml", "what the file holds, as JSON"]],
    load: () => import("./commands/inspect.js"),
  },
  {
    name: "fmt",
    summary: "Rewrite build files in canonical form (comments kept)",
    operands: "<file>...",
    flags: [
      { name: "check", help: "change nothing; list unformatted files and exit 3 if there are any" },
      { name: "diff", help: "show the changes as a unified diff" },
    ],
    examples: [["kiln fmt --check --diff *.kiln.yaml", "what fmt would change, in CI"]],
    load: () => import("./commands/fmt.js"),
  },
  {
    name: "init",
    summary:
      "Install the plugins a build file needs into .kiln/plugins; write kiln.lock and the editor schema",
    operands: "[file|folder]",
    flags: [
      { name: "upgrade", help: "take the newest versions the ranges allow and rewrite kiln.lock" },
      { name: "allow-scripts", help: "let npm run the install scripts of the plugins it installs" },
    ],
    examples: [["kiln init", "for the only build file of this folder"]],
    load: () => import("./commands/init.js"),
  },
  {
    name: "plugins",
    summary: "List, install or remove the project's plugins (.kiln/plugins, kiln.lock)",
    operands: "list | install <package[@range]>... | remove <package>...",
    flags: [
      { name: "dir", arg: "folder", help: "the project folder (default: this one)" },
      { name: "json", help: "print the list as JSON" },
      { name: "allow-scripts", help: "let npm run the install scripts of the plugins it installs" },
    ],
    examples: [
      ["kiln plugins list", "what is installed, and what each package provides"],
      ["kiln plugins install kiln-provisioner-ansible@^1", "add a plugin and lock it"],
    ],
    load: () => import("./commands/plugins.js"),
  },
  {
    name: "schema",
    summary:
      "Print the editor's JSON Schema of build files (composed with a file's plugins), or --write it to .kiln/schema.json",
    operands: "[file|folder]",
    flags: [
      {
        name: "write",
        help: "write .kiln/schema.json beside the file and add the yaml-language-server modeline to it",
      },
      { name: "force", help: "with --write: replace a modeline that names another schema" },
    ],
    examples: [
      ["kiln schema --write image.kiln.yaml", "the schema of exactly the file's plugins, named in the file"],
      ["kiln schema > schema.json", "the standard plugins' schema, as published"],
    ],
    load: () => import("./commands/schema.js"),
  },
  {
    name: "version",
    summary: "Print the versions of kiln and its core",
    operands: "",
    flags: [],
    examples: [["kiln version", ""]],
    load: () => import("./commands/version.js"),
  },
];

export const commandNamed = (name: string): CommandSpec | undefined => COMMANDS.find((c) => c.name === name);
