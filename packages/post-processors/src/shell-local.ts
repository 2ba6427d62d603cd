/**
 * shell-local: run commands or scripts on the machine running kiln after a build, as Packer's
 * shell-local post-processor does.
 *
 * - One of command, inline, script or scripts. Inline commands become a temporary script that
 *   starts with `#!<inline_shebang>` (default `/bin/sh -e`).
 * - Each script runs as execute_command (default `["/bin/sh", "-c", "{{.Vars}} {{.Script}}"]`;
 *   a single string is run with `sh -c`, as Packer's post-processor does for the old string
 *   form). `{{.Vars}}` is the environment as `KEY='value' ` pairs (env_var_format), sorted;
 *   `{{.Script}}` (also `{{.Path}}`, `{{.Command}}`) the script's absolute path.
 * - Environment: PACKER_BUILD_NAME, PACKER_BUILDER_TYPE, PACKER_RUN_UUID, PACKER_HTTP_* when
 *   known, the artifact as KILN_ARTIFACT_ID, KILN_ARTIFACT_BUILDER_TYPE, KILN_ARTIFACT_FILES
 *   (newline-separated) and KILN_ARTIFACT_FILE (the first), then environment_vars, then env.
 *   They are both in {{.Vars}} and in the process environment.
 * - Output is streamed to the build's output; exit codes other than valid_exit_codes (default
 *   [0]) fail the post-processor; an interrupt kills the script's whole process group.
 * - The input artifact is passed through and kept (as Packer).
 */
import { spawn } from "node:child_process";
import { chmod, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { PostProcessContext, PostProcessorRuntime } from "./types.js";
import {
  abortError,
  CODES,
  messageOf,
  packerBuilderType,
  packerBuildName,
  ppError,
  removeQuietly,
  renderFields,
  resolvePath,
  templateFields,
  throwIfAborted,
} from "./util.js";

const TYPE = "shell-local";

export interface ShellLocalOptions {
  command?: string;
  inline?: string[];
  inline_shebang?: string;
  script?: string;
  scripts?: string[];
  environment_vars?: string[];
  env?: Record<string, string>;
  execute_command?: string | string[];
  env_var_format?: string;
  tempfile_extension?: string;
  only_on?: string[];
  valid_exit_codes?: number[];
}

/** Packer's only_on names (Go's GOOS) and Node's process.platform for each. */
const OS_NAMES: Record<string, NodeJS.Platform> = {
  darwin: "darwin",
  freebsd: "freebsd",
  linux: "linux",
  openbsd: "openbsd",
  solaris: "sunos",
  windows: "win32",
};

const isWindows = process.platform === "win32";

/** Milliseconds between SIGTERM and SIGKILL when the run is interrupted. */
export const KILL_GRACE_MS = 3000;

/** Go's fmt.Sprintf for the `%s` and `%%` verbs env_var_format uses. */
export function formatEnvVar(format: string, key: string, value: string): string {
  const args = [key, value];
  return format.replace(/%[s%]/g, (m) => (m === "%%" ? "%" : (args.shift() ?? "%!s(MISSING)")));
}

/** `{{.Vars}}`: the variables as shell assignments, sorted by name, single quotes escaped. */
export function flattenEnv(vars: Record<string, string>, format: string): string {
  return Object.keys(vars)
    .sort()
    .map((k) => formatEnvVar(format, k, (vars[k] as string).replace(/'/g, `'"'"'`)))
    .join("");
}

function strings(value: unknown, option: string): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) {
    throw ppError(TYPE, CODES.options, `${option} must be a list of strings`);
  }
  return value as string[];
}

function checkOnlyOn(list: string[] | undefined): NodeJS.Platform[] | undefined {
  if (!list?.length) return undefined;
  return list.map((name) => {
    const p =
      OS_NAMES[name] ??
      (Object.values(OS_NAMES).includes(name as NodeJS.Platform) ? (name as NodeJS.Platform) : undefined);
    if (!p) {
      throw ppError(TYPE, CODES.options, `only_on: unknown operating system "${name}"`, {
        hint: `Use ${Object.keys(OS_NAMES).join(", ")}.`,
      });
    }
    return p;
  });
}

/** The environment the scripts get. */
function environment(
  ctx: PostProcessContext<ShellLocalOptions>,
  o: ShellLocalOptions,
  vars: string[] | undefined,
): Record<string, string> {
  const env: Record<string, string> = {
    PACKER_BUILD_NAME: packerBuildName(ctx),
    PACKER_BUILDER_TYPE: packerBuilderType(ctx),
    PACKER_RUN_UUID: ctx.run.runUuid,
  };
  const http: [string, string][] = [
    ["PACKER_HTTP_ADDR", "PackerHTTPAddr"],
    ["PACKER_HTTP_IP", "PackerHTTPIP"],
    ["PACKER_HTTP_PORT", "PackerHTTPPort"],
  ];
  for (const [name, key] of http) {
    const v = ctx.buildVars[key];
    if (v !== undefined && v !== "") env[name] = String(v);
  }
  const a = ctx.artifact;
  env.KILN_ARTIFACT_ID = a.id;
  env.KILN_ARTIFACT_BUILDER_TYPE = a.builderType;
  env.KILN_ARTIFACT_FILES = a.files.map((f) => resolvePath(ctx, f)).join("\n");
  if (a.files[0] !== undefined) env.KILN_ARTIFACT_FILE = resolvePath(ctx, a.files[0]);

  for (const kv of vars ?? []) {
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

interface RunOutcome {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Run one command, streaming its output; on abort, kill its process group (TERM, then KILL). */
function run(
  ctx: PostProcessContext<ShellLocalOptions>,
  argv: string[],
  env: NodeJS.ProcessEnv,
): Promise<RunOutcome> {
  return new Promise((resolve, reject) => {
    const [program, ...args] = argv as [string, ...string[]];
    const child = spawn(program, args, {
      cwd: ctx.baseDir,
      env,
      stdio: ["ignore", "pipe", "pipe"],
      // Its own process group, so that an interrupt reaches everything the script started.
      detached: !isWindows,
      windowsHide: true,
    });
    let killTimer: NodeJS.Timeout | undefined;
    const kill = (signal: NodeJS.Signals) => {
      if (child.pid === undefined) return;
      try {
        if (isWindows) child.kill(signal);
        else process.kill(-child.pid, signal);
      } catch {
        // already gone
      }
    };
    const onAbort = () => {
      kill("SIGTERM");
      killTimer = setTimeout(() => kill("SIGKILL"), KILL_GRACE_MS);
      killTimer.unref();
    };
    child.stdout?.setEncoding("utf8");
    child.stderr?.setEncoding("utf8");
    child.stdout?.on("data", (chunk: string) => ctx.ui.output("stdout", chunk));
    child.stderr?.on("data", (chunk: string) => ctx.ui.output("stderr", chunk));
    child.once("error", (err) => {
      ctx.signal.removeEventListener("abort", onAbort);
      reject(ppError(TYPE, CODES.failed, `cannot run ${program}: ${err.message}`, { cause: err }));
    });
    child.once("close", (code, signal) => {
      ctx.signal.removeEventListener("abort", onAbort);
      if (killTimer) clearTimeout(killTimer);
      // Whatever the script left running in its group goes with it when we were interrupted.
      if (ctx.signal.aborted) kill("SIGKILL");
      resolve({ code, signal });
    });
    if (ctx.signal.aborted) onAbort();
    else ctx.signal.addEventListener("abort", onAbort, { once: true });
  });
}

export const shellLocal: PostProcessorRuntime<ShellLocalOptions> = {
  async postProcess(ctx: PostProcessContext<ShellLocalOptions>) {
    const o = ctx.options ?? {};
    const passThrough = { artifact: ctx.artifact, keepInput: true };

    const onlyOn = checkOnlyOn(strings(o.only_on, "only_on"));
    if (onlyOn && !onlyOn.includes(process.platform)) {
      ctx.ui.say(`Skipping shell-local: only_on is ${(o.only_on as string[]).join(", ")}`);
      return passThrough;
    }

    const inline = strings(o.inline, "inline");
    const scriptsOpt = strings(o.scripts, "scripts");
    const given = [
      o.command !== undefined && o.command !== "" ? "command" : undefined,
      inline !== undefined ? "inline" : undefined,
      o.script !== undefined && o.script !== "" ? "script" : undefined,
      scriptsOpt?.length ? "scripts" : undefined,
    ].filter((x): x is string => x !== undefined);
    if (given.length === 0) {
      throw ppError(TYPE, CODES.options, "nothing to run: set one of command, inline, script or scripts");
    }
    if (given.length > 1) {
      throw ppError(
        TYPE,
        CODES.options,
        `set only one of command, inline, script or scripts (found ${given.join(" and ")})`,
      );
    }
    const codes = o.valid_exit_codes ?? [0];
    if (!Array.isArray(codes) || codes.some((c) => !Number.isInteger(c))) {
      throw ppError(TYPE, CODES.options, "valid_exit_codes must be a list of integers");
    }

    let executeCommand: string[];
    if (
      o.execute_command === undefined ||
      o.execute_command === null ||
      (Array.isArray(o.execute_command) && o.execute_command.length === 0)
    ) {
      executeCommand = isWindows
        ? ["cmd", "/V", "/C", "{{.Vars}}", "call", "{{.Script}}"]
        : ["/bin/sh", "-c", "{{.Vars}} {{.Script}}"];
    } else if (typeof o.execute_command === "string") {
      executeCommand = ["sh", "-c", o.execute_command];
    } else if (Array.isArray(o.execute_command) && o.execute_command.every((x) => typeof x === "string")) {
      executeCommand =
        o.execute_command.length === 1
          ? ["sh", "-c", o.execute_command[0] as string]
          : [...o.execute_command];
    } else {
      throw ppError(TYPE, CODES.options, "execute_command must be a string or a list of strings");
    }

    const envVarFormat = o.env_var_format ?? (isWindows ? "set %s=%s && " : "%s='%s' ");
    const vars = environment(ctx, o, strings(o.environment_vars, "environment_vars"));
    const flattened = flattenEnv(vars, envVarFormat);
    const processEnv: NodeJS.ProcessEnv = { ...process.env, ...vars };

    // The scripts to run.
    const scripts: { path: string; shown: string }[] = [];
    let tempScript: string | undefined;
    if (o.script || scriptsOpt?.length) {
      for (const s of o.script ? [o.script] : (scriptsOpt as string[])) {
        const p = resolvePath(ctx, s);
        try {
          if (!(await stat(p)).isFile()) throw new Error("not a file");
        } catch (err) {
          throw ppError(TYPE, CODES.options, `script ${s} cannot be read (${p}): ${messageOf(err)}`);
        }
        scripts.push({ path: p, shown: s });
      }
    }
    try {
      if (scripts.length === 0) {
        const commands = inline ?? [o.command as string];
        const ext = (o.tempfile_extension ?? (isWindows ? "cmd" : "")).replace(/^\./, "");
        const dir = await ctx.tempDir("kiln-shell-local-");
        tempScript = join(dir, `script${ext ? `.${ext}` : ""}`);
        const shebang = o.inline_shebang ?? (isWindows ? "" : "/bin/sh -e");
        const text = `${shebang ? `#!${shebang}\n` : ""}${commands.map((c) => `${c}\n`).join("")}`;
        await writeFile(tempScript, text, { mode: 0o700 });
        await chmod(tempScript, 0o700);
        scripts.push({ path: tempScript, shown: inline ? "inline commands" : (o.command as string) });
      }

      for (const s of scripts) {
        throwIfAborted(ctx.signal, TYPE);
        const fields = {
          ...templateFields(ctx),
          Vars: flattened,
          Script: s.path,
          Path: s.path,
          Command: s.path,
        };
        const argv = executeCommand.map((part) => renderFields(TYPE, "execute_command", part, fields));
        ctx.ui.say(`Running local shell script: ${s.shown}`);
        const { code, signal } = await run(ctx, argv, processEnv);
        if (ctx.signal.aborted) throw abortError(ctx.signal, TYPE);
        if (code === null) {
          throw ppError(TYPE, CODES.exitCode, `${s.shown} was killed by ${signal ?? "a signal"}`);
        }
        if (!codes.includes(code)) {
          throw ppError(
            TYPE,
            CODES.exitCode,
            `${s.shown} exited with code ${code}; allowed exit codes: ${codes.join(", ")}`,
            {
              hint:
                (code === 126 || code === 127) && s.path !== tempScript
                  ? `The shell could not execute ${s.path}: is it executable (chmod +x), and is its #! line right?`
                  : "See the output above; list other acceptable codes in valid_exit_codes.",
            },
          );
        }
      }
    } finally {
      await removeQuietly(tempScript);
    }
    return passThrough;
  },
};
