/**
 * Running ansible-playbook / ansible-galaxy on this machine: in a process group of their own
 * (an interrupt ends the whole group, TERM then KILL), standard input from /dev/null, output
 * streamed line by line into the run's events. A program that is not installed is a clear error.
 */
import type { RunContext } from "@kiln/core";
import { abortError } from "@kiln/core";
import { launchWithPipes, type ScriptOutcome } from "@kiln/sdk";
import { ansibleError, CODES, type Component, INSTALL_HINT } from "./errors.js";

export interface LocalRun {
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  /** Sees every chunk too (the failure reader). */
  onOutput?: (stream: "stdout" | "stderr", chunk: string) => void;
  /** Collect the output instead of showing it (--version). */
  quiet?: boolean;
}

/** Run it to its end; rejects when it cannot be started (a missing program: KILN_ANSIBLE_NOT_FOUND). */
export async function runLocal(
  type: Component,
  ctx: Pick<RunContext, "ui" | "signal">,
  r: LocalRun,
): Promise<ScriptOutcome & { output: string }> {
  if (ctx.signal.aborted) throw abortError(ctx.signal, type);
  let output = "";
  const program = r.argv[0] as string;
  try {
    const outcome = await launchWithPipes(r.argv, {
      cwd: r.cwd,
      env: r.env,
      signal: ctx.signal,
      output: (stream, chunk) => {
        if (r.quiet) output += chunk;
        else ctx.ui.output(stream, chunk);
        r.onOutput?.(stream, chunk);
      },
      fail: (_kind, message, extra) => ansibleError(type, CODES.failed, message, extra),
    });
    if (ctx.signal.aborted) throw abortError(ctx.signal, type);
    return { ...outcome, output };
  } catch (err) {
    if (ctx.signal.aborted) throw abortError(ctx.signal, type);
    const code = ((err as { cause?: NodeJS.ErrnoException }).cause ?? (err as NodeJS.ErrnoException)).code;
    if (code === "ENOENT") {
      throw ansibleError(type, CODES.missing, `${program} was not found (looked for it on PATH)`, {
        hint: INSTALL_HINT,
        cause: err,
      });
    }
    if (code === "EACCES")
      throw ansibleError(type, CODES.missing, `${program} cannot be run: permission denied`, {
        hint: "Check that the file is executable (chmod +x), or set command to the right program.",
        cause: err,
      });
    throw err;
  }
}
