/**
 * shell-local: run commands or scripts on the machine running kiln, as Packer's shell-local
 * provisioner does.
 *
 * - One of command, inline (each becomes a temporary script under `#!<inline_shebang>`, default
 *   `/bin/sh -e`), script and/or scripts (local paths, relative to the build file's folder).
 * - Each script runs as execute_command: a list of arguments (default
 *   `["/bin/sh", "-c", "{{.Vars}} {{.Script}}"]`) or one string, run with `/bin/sh -c`.
 *   `{{.Vars}}` is `NAME='value' ` per variable (env_var_format); `{{.Script}}` (also `{{.Path}}`)
 *   the script's absolute path. The variables are also in the process environment.
 * - It runs under a pseudo-terminal (node-pty), so tools keep their colours and progress bars;
 *   its standard input is /dev/null, as in Packer. When node-pty cannot be loaded, it runs
 *   with plain pipes and says so once.
 * - Exit codes outside valid_exit_codes (default [0]) fail; only_on limits it to some operating
 *   systems; an interrupt kills the script's whole process group (TERM, then KILL).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { chmod, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { constants, tmpdir } from "node:os";
import { join } from "node:path";
import type { ProvisionContext, ProvisionerRuntime } from "@kiln/core";
import {
  abortError,
  CODES,
  exitCodes,
  flattenEnv,
  inlineScript,
  messageOf,
  provError,
  resolveLocal,
  scriptEnv,
  scriptSources,
  shellWord,
  stringList,
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
  env_var_format?: string;
  execute_command?: string | string[];
  valid_exit_codes?: number[];
  only_on?: string[];
  use_linux_pathing?: boolean;
}

/** Packer's only_on names (Go's GOOS) and Node's process.platform for each. */
const OS_NAMES: Record<string, NodeJS.Platform> = {
  aix: "aix",
  darwin: "darwin",
  freebsd: "freebsd",
  linux: "linux",
  netbsd: "netbsd",
  openbsd: "openbsd",
  solaris: "sunos",
  windows: "win32",
};

const isWindows = process.platform === "win32";

/** Milliseconds between SIGTERM and SIGKILL when the run is interrupted. */
export const KILL_GRACE_MS = 3000;

type PtyModule = typeof import("node-pty");

let ptyModule: Promise<PtyModule> | undefined;

/** node-pty, loaded once and only when a shell-local provisioner runs. */
export function loadNodePty(): Promise<PtyModule> {
  ptyModule ??= import("node-pty").then((m) => ((m as { default?: PtyModule }).default ?? m) as PtyModule);
  return ptyModule;
}

interface Outcome {
  code: number | null;
  signal: string | null;
}

function signalName(n: number | undefined | null): string | null {
  if (!n) return null;
  const found = Object.entries(constants.signals).find(([, v]) => v === n);
  return found ? found[0] : `signal ${n}`;
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals, fallback?: () => void): void {
  if (pid === undefined) return;
  try {
    if (isWindows) fallback?.();
    else process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/** Kill the group on abort (TERM, then KILL after a grace period); returns a function that stops watching. */
function watchAbort(signal: AbortSignal, pid: number | undefined, fallback?: () => void): () => void {
  let timer: NodeJS.Timeout | undefined;
  const onAbort = () => {
    killGroup(pid, "SIGTERM", fallback);
    timer = setTimeout(() => killGroup(pid, "SIGKILL", fallback), KILL_GRACE_MS);
    timer.unref();
  };
  if (signal.aborted) onAbort();
  else signal.addEventListener("abort", onAbort, { once: true });
  return () => {
    signal.removeEventListener("abort", onAbort);
    if (timer) clearTimeout(timer);
    // Whatever the script left running in its group goes with it when we were interrupted.
    if (signal.aborted) killGroup(pid, "SIGKILL", fallback);
  };
}

function runPty(
  pty: PtyModule,
  ctx: ProvisionContext<ShellLocalOptions>,
  argv: string[],
  env: Record<string, string>,
): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const [program, ...args] = argv as [string, ...string[]];
    // Standard input from /dev/null, as Packer runs it: a command that reads input gets
    // end-of-file instead of waiting forever. Output goes to the terminal.
    const [file, fileArgs] = isWindows
      ? [program, args]
      : ["/bin/sh", ["-c", 'exec "$@" </dev/null', "kiln-shell-local", program, ...args]];
    let proc: ReturnType<PtyModule["spawn"]>;
    try {
      proc = pty.spawn(file, fileArgs, {
        name: "xterm-256color",
        cols: process.stdout.columns && process.stdout.columns > 20 ? process.stdout.columns : 120,
        rows: process.stdout.rows && process.stdout.rows > 5 ? process.stdout.rows : 40,
        cwd: ctx.baseDir,
        env,
      });
    } catch (err) {
      reject(provError(TYPE, CODES.failed, `cannot run ${program}: ${messageOf(err)}`, { cause: err }));
      return;
    }
    const stop = watchAbort(ctx.signal, proc.pid, () => proc.kill());
    proc.onData((chunk) => ctx.ui.output("stdout", chunk));
    proc.onExit(({ exitCode, signal }) => {
      stop();
      const sig = signalName(signal);
      resolve({ code: sig ? null : exitCode, signal: sig });
    });
  });
}

function runPipes(
  ctx: ProvisionContext<ShellLocalOptions>,
  argv: string[],
  env: Record<string, string>,
): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const [program, ...args] = argv as [string, ...string[]];
    let child: ChildProcess;
    try {
      child = spawn(program, args, {
        cwd: ctx.baseDir,
        env,
        stdio: ["ignore", "pipe", "pipe"],
        // Its own process group, so that an interrupt reaches everything the script started.
        detached: !isWindows,
        windowsHide: true,
      });
    } catch (err) {
      reject(provError(TYPE, CODES.failed, `cannot run ${program}: ${messageOf(err)}`, { cause: err }));
      return;
    }
    const stop = watchAbort(ctx.signal, child.pid, () => child.kill());
    child.stdout?.setEncoding("utf8");
    child.stderr?.setEncoding("utf8");
    child.stdout?.on("data", (c: string) => ctx.ui.output("stdout", c));
    child.stderr?.on("data", (c: string) => ctx.ui.output("stderr", c));
    child.once("error", (err) => {
      stop();
      reject(provError(TYPE, CODES.failed, `cannot run ${program}: ${err.message}`, { cause: err }));
    });
    child.once("close", (code, signal) => {
      stop();
      resolve({ code, signal });
    });
  });
}

/** The argument list for one script. */
function commandLine(o: ShellLocalOptions, script: string, vars: string): string[] {
  let template: string[];
  const ec = o.execute_command;
  if (ec === undefined || ec === null || (Array.isArray(ec) && ec.length === 0)) {
    template = isWindows
      ? ["cmd", "/V", "/C", "{{.Vars}}", "call", "{{.Script}}"]
      : ["/bin/sh", "-c", "{{.Vars}} {{.Script}}"];
  } else if (typeof ec === "string") {
    template = isWindows ? ["cmd", "/C", ec] : ["/bin/sh", "-c", ec];
  } else if (Array.isArray(ec) && ec.every((x) => typeof x === "string")) {
    template = ec.length === 1 ? ["/bin/sh", "-c", ec[0] as string] : [...ec];
  } else {
    throw provError(TYPE, CODES.options, "execute_command must be a string or a list of strings");
  }
  const fields: Record<string, string> = { Vars: vars, Script: script, Path: script, Command: script };
  const field = /\{\{-?\s*\.([A-Za-z_][A-Za-z0-9_]*)\s*-?\}\}/g;
  return template.map((arg) => {
    // An argument that is only {{.Script}} is the path itself; inside a longer (shell) string it is quoted when needed.
    const whole = /^\{\{-?\s*\.(Script|Path|Command)\s*-?\}\}$/.exec(arg);
    if (whole) return script;
    return arg.replace(field, (m, name: string) => {
      const v = fields[name];
      if (v === undefined)
        throw provError(TYPE, CODES.options, `execute_command: unknown field ${m}`, {
          hint: "Use {{.Vars}} and {{.Script}}.",
        });
      return name === "Vars" ? v : shellWord(v);
    });
  });
}

function checkOnlyOn(list: string[] | undefined): NodeJS.Platform[] | undefined {
  if (!list?.length) return undefined;
  return list.map((name) => {
    const p =
      OS_NAMES[name] ??
      (Object.values(OS_NAMES).includes(name as NodeJS.Platform) ? (name as NodeJS.Platform) : undefined);
    if (!p)
      throw provError(TYPE, CODES.options, `only_on: unknown operating system "${name}"`, {
        hint: `Use ${Object.keys(OS_NAMES).join(", ")}.`,
      });
    return p;
  });
}

export interface ShellLocalDeps {
  /** How node-pty is loaded (tests replace it to exercise the fallback). */
  loadPty?: () => Promise<PtyModule>;
}

export function createShellLocal(deps: ShellLocalDeps = {}): ProvisionerRuntime<ShellLocalOptions> {
  const load = deps.loadPty ?? loadNodePty;
  return {
    async provision(ctx) {
      const o = ctx.options ?? {};
      const ui = ctx.ui;
      const onlyOn = checkOnlyOn(stringList(TYPE, "only_on", o.only_on));
      if (onlyOn && !onlyOn.includes(process.platform)) {
        ui.say(
          `Skipping shell-local: only_on is ${(o.only_on as string[]).join(", ")} and this is ${process.platform}`,
        );
        return;
      }
      const src = scriptSources(TYPE, o, true);
      const codes = exitCodes(TYPE, o.valid_exit_codes);
      const vars = scriptEnv(TYPE, ctx, o);
      const flattened = flattenEnv(vars, o.env_var_format ?? (isWindows ? "set %s=%s && " : "%s='%s' "));
      const env: Record<string, string> = {};
      for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
      Object.assign(env, vars);

      const scripts: { label: string; path: string }[] = [];
      let temp: string | undefined;
      try {
        if (src.kind === "files") {
          for (const f of src.files) {
            const p = resolveLocal(ctx, f);
            try {
              if (!(await stat(p)).isFile()) throw new Error("not a file");
            } catch (err) {
              const code = (err as NodeJS.ErrnoException).code;
              throw provError(
                TYPE,
                CODES.options,
                `script ${f} cannot be read (${p}): ${code === "ENOENT" ? "no such file" : (code ?? messageOf(err))}`,
                {
                  hint: "Paths are relative to the folder of the build file.",
                },
              );
            }
            scripts.push({ label: f, path: p });
          }
        } else {
          temp = await mkdtemp(join(tmpdir(), "kiln-shell-local-"));
          const p = join(temp, isWindows ? "script.cmd" : "script.sh");
          const lines = src.kind === "inline" ? src.lines : [src.command];
          await writeFile(
            p,
            isWindows ? `${lines.join("\r\n")}\r\n` : inlineScript(o.inline_shebang, lines),
            { mode: 0o700 },
          );
          await chmod(p, 0o700);
          scripts.push({ label: src.kind === "inline" ? "inline script" : "command", path: p });
        }

        let pty: PtyModule | undefined;
        try {
          pty = await load();
        } catch (err) {
          ui.message(
            `node-pty could not be loaded (${messageOf(err).split("\n")[0]}); running without a terminal, so output is not a terminal (no colours or progress bars)`,
          );
        }

        for (const s of scripts) {
          throwIfAborted(ctx.signal, TYPE);
          ui.say(`Running local shell script: ${s.label}`);
          const argv = commandLine(o, s.path, flattened);
          const r = pty ? await runPty(pty, ctx, argv, env) : await runPipes(ctx, argv, env);
          if (ctx.signal.aborted) throw abortError(ctx.signal, TYPE);
          if (r.code === null) {
            throw provError(TYPE, CODES.exitCode, `script ${s.label} was ended by ${r.signal ?? "a signal"}`);
          }
          if (!codes.includes(r.code)) {
            const hint =
              r.code === 126 && src.kind === "files"
                ? `Is ${s.label} executable? chmod +x it, or set execute_command: ["/bin/sh", "{{.Script}}"].`
                : r.code === 127
                  ? "A command was not found; see the output above."
                  : `valid_exit_codes is [${codes.join(", ")}]; see the script's output above.`;
            throw provError(TYPE, CODES.exitCode, `script ${s.label} exited with code ${r.code}`, { hint });
          }
        }
      } finally {
        if (temp) await rm(temp, { recursive: true, force: true }).catch(() => {});
      }
    },
  };
}

export const shellLocal = createShellLocal();
