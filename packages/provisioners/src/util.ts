/** Helpers shared by the provisioners. */
import { isAbsolute, resolve } from "node:path";
import {
  abortableSleep,
  abortError,
  type KilnError,
  messageOf,
  parseDuration,
  type RunContext,
} from "@kiln/core";
import {
  type LocalShellErrorFactory,
  packerHttpEnv,
  prefixedError,
  type ScriptSource,
  exitCodes as sdkExitCodes,
  scriptSources as sdkScriptSources,
  stringList as sdkStringList,
  wrapPrefixedError,
} from "@kiln/sdk";

export { abortError, messageOf, throwIfAborted } from "@kiln/core";

/** Error codes the provisioners raise. */
export const CODES = {
  /** An option value the schema accepts but that cannot work. */
  options: "KILN_PROVISIONER_OPTIONS",
  /** Uploading, downloading or running something failed. */
  failed: "KILN_PROVISIONER_FAILED",
  /** A script exited with a code that is not in valid_exit_codes. */
  exitCode: "KILN_SCRIPT_EXIT_CODE",
  /** The connection dropped while a script ran and expect_disconnect was not set. */
  disconnected: "KILN_SSH_DISCONNECTED",
} as const;

/** A KilnError whose message starts with `[type] `. */
export const provError = prefixedError;

/**
 * Wrap a failure of the communicator (or anything else) as `[type] what: reason`, keeping the
 * communicator's stable code and hint.
 */
export function wrapError(type: string, what: string, err: unknown): KilnError {
  return wrapPrefixedError(type, what, err, CODES.failed);
}

/** A duration option (Go syntax: 30s, 5m, 1h30m) in milliseconds, or a clear options error. */
export function duration(type: string, option: string, value: string | number): number {
  try {
    return parseDuration(value);
  } catch (err) {
    throw provError(type, CODES.options, `${option}: ${messageOf(err)}`);
  }
}

/** A path from the options, relative to the build file's folder. */
export function resolveLocal(ctx: Pick<RunContext, "baseDir">, p: string): string {
  return isAbsolute(p) ? p : resolve(ctx.baseDir, p);
}

/** Makes this package's errors for the SDK's option checks. */
function failFor(type: string): LocalShellErrorFactory {
  return (kind, message, extra) =>
    provError(type, kind === "options" ? CODES.options : CODES.failed, message, extra);
}

export function stringList(type: string, option: string, value: unknown): string[] | undefined {
  return sdkStringList(value, option, failFor(type));
}

export function exitCodes(type: string, value: unknown): number[] {
  return sdkExitCodes(value, failFor(type));
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface ScriptEnvOptions {
  environment_vars?: string[];
  env?: Record<string, string>;
}

/**
 * The variables a script gets, as Packer sets them: PACKER_BUILD_NAME, PACKER_BUILDER_TYPE,
 * PACKER_HTTP_ADDR/IP/PORT when the builder serves HTTP, then environment_vars (NAME=value),
 * then env (which wins on duplicates). Names must be shell identifiers: they are written
 * unquoted into the command line.
 */
export function scriptEnv(
  type: string,
  ctx: Pick<RunContext, "run" | "buildVars">,
  o: ScriptEnvOptions,
): Record<string, string> {
  const env: Record<string, string> = {
    PACKER_BUILD_NAME: ctx.run.source,
    PACKER_BUILDER_TYPE: ctx.run.type,
  };
  Object.assign(env, packerHttpEnv(ctx.buildVars));
  for (const kv of stringList(type, "environment_vars", o.environment_vars) ?? []) {
    const i = kv.indexOf("=");
    const key = i < 0 ? kv : kv.slice(0, i);
    if (i <= 0)
      throw provError(type, CODES.options, `environment_vars: "${key}" is not in the form NAME=value`);
    if (!ENV_NAME.test(key)) {
      throw provError(type, CODES.options, `environment_vars: "${key}" is not a valid variable name`, {
        hint: "Use letters, digits and _ and do not start with a digit.",
      });
    }
    env[key] = kv.slice(i + 1);
  }
  const map = o.env;
  if (map !== undefined && map !== null) {
    if (typeof map !== "object" || Array.isArray(map))
      throw provError(type, CODES.options, "env must be a map of names to values");
    for (const [k, v] of Object.entries(map)) {
      if (!ENV_NAME.test(k)) {
        throw provError(type, CODES.options, `env: "${k}" is not a valid variable name`, {
          hint: "Use letters, digits and _ and do not start with a digit.",
        });
      }
      env[k] = typeof v === "string" ? v : String(v);
    }
  }
  return env;
}

export { flattenEnv, formatEnvVar, shellWord } from "@kiln/sdk";

/** POSIX single-quote a string for a shell. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * Replace Packer's Go-template fields (`{{.Path}}`, `{{ .Vars }}`) in an execute_command.
 * Unknown fields are an options error rather than left for the shell to choke on.
 */
export function renderCommand(type: string, template: string, fields: Record<string, string>): string {
  return template.replace(/\{\{-?\s*\.([A-Za-z_][A-Za-z0-9_]*)\s*-?\}\}/g, (m, name: string) => {
    const v = fields[name];
    if (v === undefined) {
      throw provError(type, CODES.options, `execute_command: unknown field ${m}`, {
        hint: `Use ${Object.keys(fields)
          .map((f) => `{{.${f}}}`)
          .join(", ")}.`,
      });
    }
    return v;
  });
}

/** The scripts to run, from exactly one of inline / script / scripts (and command for shell-local). */
export function scriptSources(
  type: string,
  o: { inline?: unknown; script?: unknown; scripts?: unknown; command?: unknown },
  allowCommand: boolean,
): ScriptSource {
  // Packer lets script and scripts be given together (script runs first); the others are exclusive.
  return sdkScriptSources(o, failFor(type), { command: allowCommand, scriptWithScripts: true });
}

/** The text of an inline script: a shebang line, then the commands, one per line. */
export function inlineScript(shebang: string, lines: string[]): string {
  const sb = shebang.trim();
  return `#!${sb.startsWith("#!") ? sb.slice(2) : sb}\n${lines.join("\n")}\n`;
}

/** Wait `ms`; an abort rejects with this component's own abort error. */
export function sleep(ms: number, signal: AbortSignal, type: string): Promise<void> {
  return abortableSleep(ms, signal, (s) => abortError(s, type));
}
