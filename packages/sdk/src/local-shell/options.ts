/**
 * The options a local shell (shell-local provisioner and post-processor) shares, and their checks.
 * Errors are made by the caller's factory, so that each plugin keeps its own codes and `[type] `
 * prefix; the messages here are those both plugins give.
 */
import { shellQuote } from "../communicator/sftp.js";
import { LOCAL_SHELL_OPTIONS } from "./schema.js";

export type { LocalShellOptions } from "./schema.js";

/** What went wrong: a bad option, or something that could not be run. */
export type LocalShellErrorKind = "options" | "failed";

/** Makes the caller's error (its code for `kind`, its `[type] ` prefix) for a message from here. */
export type LocalShellErrorFactory = (
  kind: LocalShellErrorKind,
  message: string,
  extra?: { hint?: string; cause?: unknown },
) => Error;

const isWindows = process.platform === "win32";

/** Packer's only_on names (Go's GOOS) and Node's process.platform for each. */
export const ONLY_ON_PLATFORMS: Readonly<Record<string, NodeJS.Platform>> = {
  aix: "aix",
  darwin: "darwin",
  freebsd: "freebsd",
  linux: "linux",
  netbsd: "netbsd",
  openbsd: "openbsd",
  solaris: "sunos",
  windows: "win32",
};

/** Argument list that runs a one-string execute_command: `/bin/sh -c` (`cmd /C` on Windows). */
export const DEFAULT_SHELL: readonly string[] = isWindows ? ["cmd", "/C"] : ["/bin/sh", "-c"];

/** env_var_format when none is set: `NAME='value' ` (`set NAME=value && ` on Windows). */
export const DEFAULT_ENV_VAR_FORMAT = isWindows ? "set %s=%s && " : "%s='%s' ";

/** The interpreter line of an inline script for a POSIX shell. */
export const POSIX_SHEBANG = "/bin/sh -e";

/** inline_shebang of a local shell when none is set: POSIX_SHEBANG (none on Windows, where scripts are cmd scripts). */
export const DEFAULT_SHEBANG = isWindows ? "" : POSIX_SHEBANG;

export function stringList(
  value: unknown,
  option: string,
  fail: LocalShellErrorFactory,
): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) {
    throw fail("options", `${option} must be a list of strings`);
  }
  return value as string[];
}

/** valid_exit_codes, checked; unset (a direct call, not through the engine) is the schema's default. */
export function exitCodes(value: unknown, fail: LocalShellErrorFactory): number[] {
  if (value === undefined || value === null) return [...LOCAL_SHELL_OPTIONS.valid_exit_codes.default];
  if (!Array.isArray(value) || value.some((c) => !Number.isInteger(c))) {
    throw fail("options", "valid_exit_codes must be a list of integers");
  }
  return value as number[];
}

/**
 * only_on as platforms (undefined when it is not set): each a name from `names` (Packer's) or
 * the platform Node calls it.
 */
export function onlyOnPlatforms(
  value: unknown,
  fail: LocalShellErrorFactory,
  names: readonly string[] = Object.keys(ONLY_ON_PLATFORMS),
): NodeJS.Platform[] | undefined {
  const list = stringList(value, "only_on", fail);
  if (!list?.length) return undefined;
  const known = names.flatMap((n) => (ONLY_ON_PLATFORMS[n] ? [[n, ONLY_ON_PLATFORMS[n]] as const] : []));
  return list.map((name) => {
    const p = known.find(([n, platform]) => n === name || platform === name)?.[1];
    if (!p)
      throw fail("options", `only_on: unknown operating system "${name}"`, {
        hint: `Use ${names.join(", ")}.`,
      });
    return p;
  });
}

export type ScriptSource =
  | { kind: "inline"; lines: string[] }
  | { kind: "command"; command: string }
  | { kind: "files"; files: string[] };

export interface ScriptSourceRules {
  /** command is an option (shell-local) or not (a remote shell). */
  command: boolean;
  /** script and scripts may be given together, script first (as Packer's provisioners). */
  scriptWithScripts: boolean;
}

/** The scripts to run, from exactly one of command / inline / script / scripts. */
export function scriptSources(
  o: { inline?: unknown; script?: unknown; scripts?: unknown; command?: unknown },
  fail: LocalShellErrorFactory,
  rules: ScriptSourceRules,
): ScriptSource {
  const inline = stringList(o.inline, "inline", fail);
  const scripts = stringList(o.scripts, "scripts", fail);
  if (o.script !== undefined && typeof o.script !== "string")
    throw fail("options", "script must be a string");
  if (o.command !== undefined && typeof o.command !== "string")
    throw fail("options", "command must be a string");
  const script = o.script ? (o.script as string) : undefined;
  const command = rules.command && o.command ? (o.command as string) : undefined;
  const given = [
    command !== undefined ? "command" : undefined,
    inline !== undefined ? "inline" : undefined,
    script !== undefined ? "script" : undefined,
    scripts?.length ? "scripts" : undefined,
  ].filter((x): x is string => x !== undefined);
  const names = rules.command ? "command, inline, script or scripts" : "inline, script or scripts";
  if (given.length === 0) throw fail("options", `nothing to run: set one of ${names}`);
  const exclusive = rules.scriptWithScripts ? given.filter((g) => g !== "script" && g !== "scripts") : given;
  if (exclusive.length > 1 || (exclusive.length === 1 && given.length > 1)) {
    throw fail("options", `set only one of ${names} (found ${given.join(" and ")})`);
  }
  if (command !== undefined) return { kind: "command", command };
  if (inline !== undefined) return { kind: "inline", lines: inline };
  return { kind: "files", files: [...(script ? [script] : []), ...(scripts ?? [])] };
}

/**
 * The text of an inline script: `#!<shebang>` (a leading `#!` in it is not doubled; no line when
 * it is empty), then the commands, one a line.
 */
export function inlineScriptText(shebang: string, lines: string[], eol = "\n"): string {
  const sb = shebang.trim();
  const interpreter = sb.startsWith("#!") ? sb.slice(2) : sb;
  return `${interpreter ? `#!${interpreter}${eol}` : ""}${lines.map((l) => `${l}${eol}`).join("")}`;
}

/** Go's fmt.Sprintf for the `%s` and `%%` verbs that env_var_format uses. */
export function formatEnvVar(format: string, key: string, value: string): string {
  const args = [key, value];
  return format.replace(/%[s%]/g, (m) => (m === "%%" ? "%" : (args.shift() ?? "%!s(MISSING)")));
}

/**
 * `{{.Vars}}`: the variables as shell assignments (default `NAME='value' `), sorted by name,
 * each value single-quoted with embedded single quotes closed, escaped and reopened.
 */
/**
 * PACKER_HTTP_ADDR, PACKER_HTTP_IP and PACKER_HTTP_PORT from the build variables, for the ones
 * the builder set (it serves HTTP), as Packer gives them to shell scripts.
 */
export function packerHttpEnv(buildVars: Readonly<Record<string, unknown>>): Record<string, string> {
  const env: Record<string, string> = {};
  const http: [string, string][] = [
    ["PACKER_HTTP_ADDR", "PackerHTTPAddr"],
    ["PACKER_HTTP_IP", "PackerHTTPIP"],
    ["PACKER_HTTP_PORT", "PackerHTTPPort"],
  ];
  for (const [name, key] of http) {
    const v = buildVars[key];
    if (v !== undefined && v !== "") env[name] = String(v);
  }
  return env;
}

export function flattenEnv(vars: Record<string, string>, format = "%s='%s' "): string {
  return Object.keys(vars)
    .sort()
    .map((k) => formatEnvVar(format, k, (vars[k] as string).replace(/'/g, `'"'"'`)))
    .join("");
}

/**
 * Names a shell sets or changes itself (its value need not be the one in its environment), or that
 * it will not let a command assign: {{.Vars}} keeps their values literal.
 */
const SHELL_OWN_NAMES = new Set([
  "_",
  "BASH",
  "BASHOPTS",
  "BASHPID",
  "DIRSTACK",
  "ENV",
  "EPOCHREALTIME",
  "EPOCHSECONDS",
  "EUID",
  "FUNCNAME",
  "GROUPS",
  "HISTCMD",
  "HOSTNAME",
  "HOSTTYPE",
  "IFS",
  "LINENO",
  "MACHTYPE",
  "OLDPWD",
  "OPTARG",
  "OPTIND",
  "OSTYPE",
  "PIPESTATUS",
  "PPID",
  "PS1",
  "PS2",
  "PS3",
  "PS4",
  "PWD",
  "RANDOM",
  "SECONDS",
  "SHELLOPTS",
  "SHLVL",
  "SRANDOM",
  "UID",
]);

/**
 * `{{.Vars}}` for the default execute_command on a POSIX shell: each variable as a reference to
 * itself (`NAME="$NAME" `), sorted by name. The values are in the script's environment already,
 * so the shell expands them to the same values, but they are not in the command line, which any
 * local user can read (ps, /proc/<pid>/cmdline). Names the shell treats specially, and names that
 * are not shell names, keep their values literal (`NAME='value' `).
 */
export function flattenEnvReferences(vars: Record<string, string>): string {
  return Object.keys(vars)
    .sort()
    .map((k) =>
      /^[A-Za-z_][A-Za-z0-9_]*$/.test(k) && !SHELL_OWN_NAMES.has(k) && !/^(BASH|COMP)_/.test(k)
        ? `${k}="$${k}" `
        : flattenEnv({ [k]: vars[k] as string }),
    )
    .join("");
}

/** A path as a shell word: left alone when it needs no quoting (as Packer writes it), quoted otherwise. */
export function shellWord(s: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(s) ? s : shellQuote(s);
}

/** Whether execute_command is unset (or empty), so that the default is used. */
export function isDefaultExecuteCommand(value: unknown): boolean {
  return value === undefined || value === null || (Array.isArray(value) && value.length === 0);
}

/**
 * execute_command as an argument list to render: the default (`/bin/sh -c "{{.Vars}} {{.Script}}"`,
 * on Windows `cmd /V /C {{.Vars}} call {{.Script}}`) when unset or empty; a string or a list of one
 * is run with `shell`.
 */
export function executeCommandTemplate(
  value: unknown,
  fail: LocalShellErrorFactory,
  shell: readonly string[] = DEFAULT_SHELL,
): string[] {
  if (isDefaultExecuteCommand(value)) {
    return isWindows
      ? ["cmd", "/V", "/C", "{{.Vars}}", "call", "{{.Script}}"]
      : ["/bin/sh", "-c", "{{.Vars}} {{.Script}}"];
  }
  if (typeof value === "string") return [...shell, value];
  if (Array.isArray(value) && value.every((x) => typeof x === "string")) {
    return value.length === 1 ? [...shell, value[0] as string] : [...value];
  }
  throw fail("options", "execute_command must be a string or a list of strings");
}

/** The fields an execute_command argument may use. */
export interface ScriptFields {
  /** The variables as env_var_format assignments. */
  Vars: string;
  /** The script's absolute path (also Path and Command). */
  Script: string;
  Path: string;
  Command: string;
}

/** Renders one argument of execute_command. */
export type ArgRenderer = (arg: string, fields: ScriptFields) => string;

/** Whether an execute_command argument is only `{{.Script}}` (`{{.Path}}`, `{{.Command}}`): the path is the argument. */
export function isScriptArg(arg: string): boolean {
  return /^\{\{-?\s*\.(Script|Path|Command)\s*-?\}\}$/.test(arg);
}

/**
 * Packer's fields in one argument: an argument that is only `{{.Script}}` (`{{.Path}}`,
 * `{{.Command}}`) is the path itself; inside a longer (shell) string the path is quoted when it
 * needs to be and `{{.Vars}}` is left as it is. Other fields are an options error.
 */
export function renderShellArg(arg: string, fields: ScriptFields, fail: LocalShellErrorFactory): string {
  if (isScriptArg(arg)) return fields.Script;
  return arg.replace(/\{\{-?\s*\.([A-Za-z_][A-Za-z0-9_]*)\s*-?\}\}/g, (m, name: string) => {
    const v = (fields as unknown as Record<string, string | undefined>)[name];
    if (v === undefined || !Object.hasOwn(fields, name)) {
      throw fail("options", `execute_command: unknown field ${m}`, {
        hint: "Use {{.Vars}} and {{.Script}}.",
      });
    }
    return name === "Vars" ? v : shellWord(v);
  });
}
