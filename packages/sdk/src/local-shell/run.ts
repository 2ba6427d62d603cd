/**
 * Running a local shell plugin's scripts, as Packer's shell-local does: check only_on, choose the
 * scripts (files, or a temporary script made from inline/command), render execute_command for
 * each, run them in turn with the variables in the environment and in {{.Vars}}, fail on an exit
 * code outside valid_exit_codes, and remove the temporary script. What differs between the
 * provisioner and the post-processor (their variables, messages, error codes, how a script is
 * started) comes in through LocalShellSpec.
 */
import { chmod, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import type { Ui } from "@kiln/core";
import {
  type ArgRenderer,
  DEFAULT_ENV_VAR_FORMAT,
  DEFAULT_SHEBANG,
  executeCommandTemplate,
  exitCodes,
  flattenEnv,
  flattenEnvReferences,
  inlineScriptText,
  isDefaultExecuteCommand,
  type LocalShellErrorFactory,
  type LocalShellOptions,
  onlyOnPlatforms,
  renderShellArg,
  scriptSources,
} from "./options.js";
import { launchWithPipes, type ScriptLauncher, type ScriptOutcome } from "./spawn.js";

const isWindows = process.platform === "win32";

export interface LocalShellContext {
  /** The build file's folder: relative script paths start here, and the scripts run here. */
  baseDir: string;
  signal: AbortSignal;
  ui: Pick<Ui, "say" | "output">;
  /** Makes the temporary script's folder (default: a new folder in the system's temporary folder). */
  tempDir?: (prefix: string) => Promise<string>;
}

/** One script to run. */
export interface LocalScript {
  /** A file from script/scripts, or the temporary script made from inline or command. */
  kind: "file" | "inline" | "command";
  /** The file as the options name it, the command, or "" for inline. */
  name: string;
  /** Its absolute path. */
  path: string;
  /** How messages name it (LocalShellSpec.label). */
  label: string;
}

/** What one plugin brings to runLocalShell. */
export interface LocalShellSpec {
  /** Makes the plugin's errors. */
  fail: LocalShellErrorFactory;
  /** What to throw when the run was aborted. */
  aborted(signal: AbortSignal): Error;
  /** only_on names the plugin accepts (default: all of ONLY_ON_PLATFORMS). */
  onlyOn?: readonly string[];
  /** The line said when only_on excludes this system. */
  skipped(onlyOn: string[]): string;
  /** Whether script and scripts may be given together. */
  scriptWithScripts: boolean;
  /** How a one-string execute_command is run (default DEFAULT_SHELL). */
  shell?: readonly string[];
  /** How an execute_command argument is rendered (default renderShellArg). */
  render?: ArgRenderer;
  /** The variables the scripts get, in their environment and in {{.Vars}}. */
  variables(): Record<string, string>;
  /** How messages name a script. */
  label(script: Pick<LocalScript, "kind" | "name">): string;
  /** The error for a script file that cannot be read. */
  unreadable(file: string, path: string, err: unknown): Error;
  /** The temporary script's file name. */
  tempFile: string;
  /** The temporary script's text (default: `#!<inline_shebang>` and the lines; on Windows the lines with CRLF). */
  scriptText?(lines: string[]): string;
  /** Chooses how scripts are started, once they are ready (default: pipes). */
  launcher?(): Promise<ScriptLauncher>;
  /** The error for a script that ended with a code outside valid_exit_codes or by a signal. */
  exitError(script: LocalScript, outcome: ScriptOutcome, codes: number[]): Error;
}

/** Run the scripts the options name; "skipped" when only_on excludes this system. */
export async function runLocalShell(
  ctx: LocalShellContext,
  o: LocalShellOptions,
  spec: LocalShellSpec,
): Promise<"ran" | "skipped"> {
  const fail = spec.fail;
  const signal = ctx.signal;
  const onlyOn = onlyOnPlatforms(o.only_on, fail, spec.onlyOn);
  if (onlyOn && !onlyOn.includes(process.platform)) {
    ctx.ui.say(spec.skipped(o.only_on as string[]));
    return "skipped";
  }
  const src = scriptSources(o, fail, { command: true, scriptWithScripts: spec.scriptWithScripts });
  const codes = exitCodes(o.valid_exit_codes, fail);
  const template = executeCommandTemplate(o.execute_command, fail, spec.shell);
  const vars = spec.variables();
  const format = o.env_var_format ?? DEFAULT_ENV_VAR_FORMAT;
  // With the default execute_command (`/bin/sh -c "{{.Vars}} {{.Script}}"`) {{.Vars}} only sets
  // what the environment holds already: refer to the variables there, so that their values (secrets,
  // perhaps) are not in the command line. A template of the user's gets the values, as in Packer.
  const flattened =
    !isWindows && isDefaultExecuteCommand(o.execute_command) && format === DEFAULT_ENV_VAR_FORMAT
      ? flattenEnvReferences(vars)
      : flattenEnv(vars, format);
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  Object.assign(env, vars);
  const render = spec.render ?? ((arg, fields) => renderShellArg(arg, fields, fail));

  const scripts: LocalScript[] = [];
  let temp: string | undefined;
  try {
    if (src.kind === "files") {
      for (const f of src.files) {
        const path = isAbsolute(f) ? f : resolve(ctx.baseDir, f);
        try {
          if (!(await stat(path)).isFile()) throw new Error("not a file");
        } catch (err) {
          throw spec.unreadable(f, path, err);
        }
        scripts.push({ kind: "file", name: f, path, label: spec.label({ kind: "file", name: f }) });
      }
    } else {
      const lines = src.kind === "inline" ? src.lines : [src.command];
      const name = src.kind === "inline" ? "" : src.command;
      temp = await (ctx.tempDir ?? ((prefix) => mkdtemp(join(tmpdir(), prefix))))("kiln-shell-local-");
      const path = join(temp, spec.tempFile);
      const text = spec.scriptText
        ? spec.scriptText(lines)
        : isWindows
          ? inlineScriptText("", lines, "\r\n")
          : inlineScriptText(o.inline_shebang ?? DEFAULT_SHEBANG, lines);
      await writeFile(path, text, { mode: 0o700 });
      await chmod(path, 0o700);
      scripts.push({ kind: src.kind, name, path, label: spec.label({ kind: src.kind, name }) });
    }

    const launch = spec.launcher ? await spec.launcher() : launchWithPipes;
    for (const s of scripts) {
      if (signal.aborted) throw spec.aborted(signal);
      const fields = { Vars: flattened, Script: s.path, Path: s.path, Command: s.path };
      const argv = template.map((arg) => render(arg, fields));
      ctx.ui.say(`Running local shell script: ${s.label}`);
      const outcome = await launch(argv, {
        cwd: ctx.baseDir,
        env,
        signal,
        output: (stream, chunk) => ctx.ui.output(stream, chunk),
        fail,
      });
      if (signal.aborted) throw spec.aborted(signal);
      if (outcome.code === null || !codes.includes(outcome.code)) throw spec.exitError(s, outcome, codes);
    }
  } finally {
    if (temp) await rm(temp, { recursive: true, force: true }).catch(() => {});
  }
  return "ran";
}
