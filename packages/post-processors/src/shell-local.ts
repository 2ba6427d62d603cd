/**
 * shell-local: run commands or scripts on the machine running kiln after a build, as Packer's
 * shell-local post-processor does.
 *
 * - One of command, inline, script or scripts. Inline commands become a temporary script that
 *   starts with `#!<inline_shebang>` (default `/bin/sh -e`).
 * - Each script runs as execute_command (default `["/bin/sh", "-c", "{{.Vars}} {{.Script}}"]`;
 *   a single string is run with `sh -c`, as Packer's post-processor does for the old string
 *   form). `{{.Vars}}` is the environment as `KEY='value' ` pairs (env_var_format), sorted (with
 *   the default execute_command `KEY="$KEY" `, so values stay out of the command line);
 *   `{{.Script}}` (also `{{.Path}}`, `{{.Command}}`) the script's absolute path: an argument of
 *   its own as it is, inside a longer string quoted for the shell when it needs to be.
 * - Environment: PACKER_BUILD_NAME, PACKER_BUILDER_TYPE, PACKER_RUN_UUID, PACKER_HTTP_* when
 *   known, the artifact as KILN_ARTIFACT_ID, KILN_ARTIFACT_BUILDER_TYPE, KILN_ARTIFACT_FILES
 *   (newline-separated) and KILN_ARTIFACT_FILE (the first), then environment_vars, then env.
 *   They are both in {{.Vars}} and in the process environment.
 * - Output is streamed to the build's output; exit codes other than valid_exit_codes (default
 *   [0]) fail the post-processor; an interrupt kills the script's whole process group.
 * - The input artifact is passed through and kept (as Packer).
 *
 * The run itself is the SDK's runLocalShell (shared with the shell-local provisioner); here are
 * the artifact's variables, the template fields of the post-processors and their messages.
 */
import {
  DEFAULT_SHEBANG,
  inlineScriptText,
  isScriptArg,
  type LocalShellErrorFactory,
  packerHttpEnv,
  runLocalShell,
  scriptProblems,
  shellWord,
  stringList,
} from "@kiln/sdk";
import { SHELL_LOCAL_ONLY_ON, type ShellLocalOptions } from "./schema.js";
import type { PostProcessContext, PostProcessorRuntime } from "./types.js";
import {
  abortError,
  CODES,
  messageOf,
  packerBuilderType,
  packerBuildName,
  ppError,
  renderFields,
  resolvePath,
  templateFields,
} from "./util.js";

export { flattenEnv, formatEnvVar, KILL_GRACE_MS } from "@kiln/sdk";

const TYPE = "shell-local";

export type { ShellLocalOptions } from "./schema.js";

const isWindows = process.platform === "win32";

const fail: LocalShellErrorFactory = (kind, message, extra) =>
  ppError(TYPE, kind === "options" ? CODES.options : CODES.failed, message, extra);

/** The environment the scripts get. */
function environment(
  ctx: PostProcessContext<ShellLocalOptions>,
  o: ShellLocalOptions,
): Record<string, string> {
  const env: Record<string, string> = {
    PACKER_BUILD_NAME: packerBuildName(ctx),
    PACKER_BUILDER_TYPE: packerBuilderType(ctx),
    PACKER_RUN_UUID: ctx.run.runUuid,
  };
  Object.assign(env, packerHttpEnv(ctx.buildVars));
  const a = ctx.artifact;
  env.KILN_ARTIFACT_ID = a.id;
  env.KILN_ARTIFACT_BUILDER_TYPE = a.builderType;
  env.KILN_ARTIFACT_FILES = a.files.map((f) => resolvePath(ctx, f)).join("\n");
  if (a.files[0] !== undefined) env.KILN_ARTIFACT_FILE = resolvePath(ctx, a.files[0]);

  for (const kv of stringList(o.environment_vars, "environment_vars", fail) ?? []) {
    const i = kv.indexOf("=");
    const key = i < 0 ? kv : kv.slice(0, i);
    if (i <= 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
      throw ppError(TYPE, CODES.options, `environment_vars: "${kv}" is not in the form NAME=value`);
    }
    env[key] = kv.slice(i + 1);
  }
  const map = o.env;
  if (map !== undefined && map !== null) {
    if (typeof map !== "object" || Array.isArray(map))
      throw ppError(TYPE, CODES.options, "env must be a map of names to values");
    for (const [k, v] of Object.entries(map)) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k))
        throw ppError(TYPE, CODES.options, `env: "${k}" is not a valid variable name`);
      env[k] = typeof v === "string" ? v : String(v);
    }
  }
  return env;
}

export const shellLocal: PostProcessorRuntime<ShellLocalOptions> = {
  check: (o, ctx) => scriptProblems(o, ctx),
  async postProcess(ctx: PostProcessContext<ShellLocalOptions>) {
    const o = ctx.options;
    const ext = (o.tempfile_extension ?? (isWindows ? "cmd" : "")).replace(/^\./, "");
    await runLocalShell(ctx, o, {
      fail,
      aborted: (signal) => abortError(signal, TYPE),
      onlyOn: SHELL_LOCAL_ONLY_ON,
      skipped: (onlyOn) => `Skipping shell-local: only_on is ${onlyOn.join(", ")}`,
      scriptWithScripts: false,
      shell: ["sh", "-c"],
      // The fields of the post-processors' other templates, too ({{.BuildName}} …). An argument
      // that is only {{.Script}} is the path; inside a longer (shell) string the path is a shell
      // word, quoted when it needs to be (a folder with a space, a `;` or `$(…)` in its name).
      render: (arg, fields) => {
        if (isScriptArg(arg)) return fields.Script;
        const word = isWindows ? (p: string) => p : shellWord;
        return renderFields(TYPE, "execute_command", arg, {
          ...templateFields(ctx),
          Vars: fields.Vars,
          Script: word(fields.Script),
          Path: word(fields.Path),
          Command: word(fields.Command),
        });
      },
      variables: () => environment(ctx, o),
      label: (s) => (s.kind === "inline" ? "inline commands" : s.name),
      unreadable: (f, p, err) =>
        ppError(TYPE, CODES.options, `script ${f} cannot be read (${p}): ${messageOf(err)}`),
      tempFile: `script${ext ? `.${ext}` : ""}`,
      scriptText: (lines) => inlineScriptText(o.inline_shebang ?? DEFAULT_SHEBANG, lines),
      exitError: (s, { code, signal }, codes) =>
        code === null
          ? ppError(TYPE, CODES.exitCode, `${s.label} was killed by ${signal ?? "a signal"}`)
          : ppError(
              TYPE,
              CODES.exitCode,
              `${s.label} exited with code ${code}; allowed exit codes: ${codes.join(", ")}`,
              {
                hint:
                  (code === 126 || code === 127) && s.kind === "file"
                    ? `The shell could not execute ${s.path}: is it executable (chmod +x), and is its #! line right?`
                    : "See the output above; list other acceptable codes in valid_exit_codes.",
              },
            ),
    });
    return { artifact: ctx.artifact, keepInput: true };
  },
};
