/**
 * The options of a local shell, declared once: the shell-local provisioner and post-processor
 * spread LOCAL_SHELL_OPTIONS into their schemas, and runLocalShell reads them as
 * LocalShellOptions. Defaults that depend on the platform (inline_shebang, env_var_format,
 * execute_command) are not schema defaults: they are computed in options.ts, once.
 */
import { type OptionsOf, str, strList, strMap, Type, withDefault } from "../options/schema.js";

export const LOCAL_SHELL_OPTIONS = {
  command: str("One command to run on the machine running kiln."),
  inline: strList("Commands to run, one after another, as one script."),
  inline_shebang: str("Interpreter line for inline commands. Default: /bin/sh -e (none on Windows)."),
  script: str("Path of a local script to run, relative to the build file's folder."),
  scripts: strList("Paths of local scripts to run in order."),
  environment_vars: strList("NAME=value pairs set for the scripts."),
  env: strMap("Environment variables as a map; they override environment_vars."),
  env_var_format: str(
    "How each variable is written into {{.Vars}}, a printf format with two %s. Default: %s='%s' followed by a space (set %s=%s && on Windows).",
  ),
  execute_command: Type.Optional(
    Type.Union([Type.String(), Type.Array(Type.String())], {
      description:
        'How a script is run: a list of arguments (default ["/bin/sh", "-c", "{{.Vars}} {{.Script}}"]) or one string run with sh -c; {{.Vars}} is the variables as env_var_format writes them, {{.Script}} (or {{.Path}}) the script, as in Packer.',
    }),
  ),
  valid_exit_codes: withDefault(
    Type.Array(Type.Integer(), { description: "Exit codes that count as success." }),
    [0],
  ),
  only_on: strList("Run only on these operating systems (linux, darwin, windows …); skipped elsewhere."),
};

/** The options runLocalShell reads (what both shell-local plugins take). */
export type LocalShellOptions = OptionsOf<typeof LOCAL_SHELL_OPTIONS>;

/**
 * The JSON Schema form of scriptSources' rule — exactly one of command / inline / script /
 * scripts (script and scripts together when `scriptWithScripts`) — so `kiln validate` reports
 * "nothing to run" and "both inline and script" with their position. Spread it into the
 * component's schema: `withScriptSources(options({...}), rules)`.
 */
export function withScriptSources<S extends object>(
  schema: S,
  rules: { command: boolean; scriptWithScripts: boolean },
): S {
  const names = [...(rules.command ? ["command"] : []), "inline", "script", "scripts"];
  const list = names.map((n) => `"${n}"`).join(", ");
  const pairs: [string, string][] = [];
  for (const [i, a] of names.entries()) {
    for (const b of names.slice(i + 1)) {
      if (!(rules.scriptWithScripts && a === "script" && b === "scripts")) pairs.push([a, b]);
    }
  }
  return Object.assign(schema, {
    anyOf: names.map((n) => ({ required: [n] })),
    allOf: pairs.map(([a, b]) => ({
      if: { required: [a] },
      then: {
        properties: {
          [b]: {
            not: {},
            description: `"${b}" cannot be used together with "${a}": set only one of ${list}.`,
          },
        },
      },
    })),
  });
}
