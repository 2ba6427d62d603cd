/**
 * shell-local: run commands or scripts on the machine running kiln, as Packer's shell-local
 * provisioner does.
 *
 * - One of command, inline (each becomes a temporary script under `#!<inline_shebang>`, default
 *   `/bin/sh -e`), script and/or scripts (local paths, relative to the build file's folder).
 * - Each script runs as execute_command: a list of arguments (default
 *   `["/bin/sh", "-c", "{{.Vars}} {{.Script}}"]`) or one string, run with `/bin/sh -c`.
 *   `{{.Vars}}` is `NAME='value' ` per variable (env_var_format; with the default execute_command
 *   `NAME="$NAME" `, so values stay out of the command line); `{{.Script}}` (also `{{.Path}}`)
 *   the script's absolute path. The variables are also in the process environment.
 * - It runs under a pseudo-terminal, so tools keep their colours and progress bars; its standard
 *   input is /dev/null, as in Packer. The pseudo-terminal is @lydell/node-pty: node-pty built
 *   for Linux, macOS and Windows (x64, arm64) in per-platform packages, so installing needs no
 *   compiler and no install script (kiln installs plugins with scripts off). Where none fits
 *   (another platform, musl), it runs with plain pipes and says so once.
 * - Exit codes outside valid_exit_codes (default [0]) fail; only_on limits it to some operating
 *   systems; an interrupt kills the script's whole process group (TERM, then KILL).
 * - On Windows, use_linux_pathing makes the scripts POSIX scripts given to execute_command by
 *   their WSL paths (/mnt/c/...), for an execute_command that runs WSL's bash.
 *
 * The run itself is the SDK's runLocalShell (shared with the shell-local post-processor); here are
 * the pseudo-terminal, Packer's build variables and this provisioner's messages.
 */

import type { ProvisionerRuntime } from "@kiln/core";
import {
  cannotRun,
  inlineScriptText,
  type LocalShellErrorFactory,
  launchWithPipes,
  POSIX_SHEBANG,
  renderShellArg,
  runLocalShell,
  type ScriptLauncher,
  scriptProblems,
  signalName,
  watchAbort,
} from "@kiln/sdk";
import type { ShellLocalOptions } from "./schema.js";
import { abortError, CODES, messageOf, provError, scriptEnv } from "./util.js";

export { KILL_GRACE_MS } from "@kiln/sdk";

const TYPE = "shell-local";

export type { ShellLocalOptions } from "./schema.js";

const isWindows = process.platform === "win32";

type PtyModule = typeof import("@lydell/node-pty");

let ptyModule: Promise<PtyModule> | undefined;

/** The pseudo-terminal module, loaded once and only when a shell-local provisioner runs. */
export function loadNodePty(): Promise<PtyModule> {
  ptyModule ??= import("@lydell/node-pty").then(
    (m) => ((m as { default?: PtyModule }).default ?? m) as PtyModule,
  );
  return ptyModule;
}

/** Run under a pseudo-terminal, standard input from /dev/null. */
function ptyLauncher(pty: PtyModule): ScriptLauncher {
  return (argv, o) =>
    new Promise((resolve, reject) => {
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
          cwd: o.cwd,
          env: o.env,
        });
      } catch (err) {
        reject(cannotRun(o.fail, program, err));
        return;
      }
      const stop = watchAbort(o.signal, proc.pid, () => proc.kill());
      proc.onData((chunk) => o.output("stdout", chunk));
      proc.onExit(({ exitCode, signal }) => {
        stop();
        const sig = signalName(signal);
        resolve({ code: sig ? null : exitCode, signal: sig });
      });
    });
}

/**
 * A Windows path as the Windows Subsystem for Linux sees it (use_linux_pathing):
 * `C:\Users\me\a.sh` → `/mnt/c/Users/me/a.sh`; other paths only get / for \.
 */
export function wslPath(p: string): string {
  const drive = /^([A-Za-z]):[\\/]*/.exec(p);
  const rest = p.slice(drive ? drive[0].length : 0).replace(/\\/g, "/");
  return drive ? `/mnt/${(drive[1] as string).toLowerCase()}/${rest}` : rest;
}

const fail: LocalShellErrorFactory = (kind, message, extra) =>
  provError(TYPE, kind === "options" ? CODES.options : CODES.failed, message, extra);

export interface ShellLocalDeps {
  /** How the pseudo-terminal module is loaded (tests replace it to exercise the fallback). */
  loadPty?: () => Promise<PtyModule>;
}

export function createShellLocal(deps: ShellLocalDeps = {}): ProvisionerRuntime<ShellLocalOptions> {
  const load = deps.loadPty ?? loadNodePty;
  return {
    // Checkpoints: it runs here and may read or write anything here, which kiln cannot see.
    checkpointInputs: () => false,
    check: (o, ctx) => scriptProblems(o, ctx),
    async provision(ctx) {
      const o = ctx.options;
      const ui = ctx.ui;
      // On Windows with use_linux_pathing the scripts are for WSL's shell: POSIX scripts, given
      // to execute_command by their WSL paths.
      const linux = isWindows && o.use_linux_pathing === true;
      await runLocalShell(ctx, o, {
        fail,
        aborted: (signal) => abortError(signal, TYPE),
        skipped: (onlyOn) =>
          `Skipping shell-local: only_on is ${onlyOn.join(", ")} and this is ${process.platform}`,
        scriptWithScripts: true,
        variables: () => scriptEnv(TYPE, ctx, o),
        label: (s) => (s.kind === "file" ? s.name : s.kind === "inline" ? "inline script" : "command"),
        unreadable: (f, p, err) => {
          const code = (err as NodeJS.ErrnoException).code;
          return provError(
            TYPE,
            CODES.options,
            `script ${f} cannot be read (${p}): ${code === "ENOENT" ? "no such file" : (code ?? messageOf(err))}`,
            { hint: "Paths are relative to the folder of the build file." },
          );
        },
        tempFile: isWindows && !linux ? "script.cmd" : "script.sh",
        ...(linux
          ? {
              scriptText: (lines: string[]) => inlineScriptText(o.inline_shebang ?? POSIX_SHEBANG, lines),
              render: (arg: string, f: { Vars: string; Script: string }) => {
                const path = wslPath(f.Script);
                return renderShellArg(arg, { Vars: f.Vars, Script: path, Path: path, Command: path }, fail);
              },
            }
          : {}),
        launcher: async () => {
          try {
            return ptyLauncher(await load());
          } catch (err) {
            ui.message(
              `no pseudo-terminal for this platform (${messageOf(err).split("\n")[0]}); running without a terminal, so output is not a terminal (no colours or progress bars)`,
            );
            return launchWithPipes;
          }
        },
        exitError: (s, r, codes) => {
          if (r.code === null) {
            return provError(
              TYPE,
              CODES.exitCode,
              `script ${s.label} was ended by ${r.signal ?? "a signal"}`,
            );
          }
          const hint =
            r.code === 126 && s.kind === "file"
              ? `Is ${s.label} executable? chmod +x it, or set execute_command: ["/bin/sh", "{{.Script}}"].`
              : r.code === 127
                ? "A command was not found; see the output above."
                : `valid_exit_codes is [${codes.join(", ")}]; see the script's output above.`;
          return provError(TYPE, CODES.exitCode, `script ${s.label} exited with code ${r.code}`, { hint });
        },
      });
    },
  };
}

export const shellLocal = createShellLocal();
