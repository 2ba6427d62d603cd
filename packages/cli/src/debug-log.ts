/**
 * The debug log, as Packer's PACKER_LOG: `KILN_LOG=1` writes what kiln does (versions, the
 * command, the build file, the plugins it resolved, every build event, internal errors with
 * their stack) to stderr, or — with `KILN_LOG_PATH` also set — to that file (replaced on each
 * run). Lines are written at once (a crash or a kill keeps what was written), without colour,
 * and through the secrets registry once the build file has been loaded; before that, values of
 * --var and credentials in proxy URLs are never written.
 */
import { closeSync, openSync, writeSync } from "node:fs";
import stripAnsi from "strip-ansi";
import { type DebugLog, NO_DEBUG_LOG, wantsDebugLog } from "./context.js";

export function openDebugLog(env: NodeJS.ProcessEnv, stderr: NodeJS.WritableStream): DebugLog {
  if (!wantsDebugLog(env)) return NO_DEBUG_LOG;
  const path = env.KILN_LOG_PATH || undefined;
  let fd: number | undefined;
  let warned = false;
  if (path) {
    try {
      fd = openSync(path, "w", 0o600);
    } catch (err) {
      stderr.write(
        `kiln: cannot write the debug log KILN_LOG_PATH=${path} (${(err as NodeJS.ErrnoException).code ?? String(err)}); writing it to stderr\n`,
      );
    }
  }
  let redact = (s: string) => s;
  const log: DebugLog = {
    enabled: true,
    target: fd === undefined ? "stderr" : path,
    write(text) {
      const lines = stripAnsi(redact(text))
        .split(/\r?\n/)
        .map((l) => `${new Date().toISOString()} [DEBUG] ${l}\n`)
        .join("");
      try {
        if (fd === undefined) stderr.write(lines);
        else writeSync(fd, lines);
      } catch (err) {
        if (warned) return;
        warned = true;
        stderr.write(`kiln: the debug log stopped: ${(err as Error).message}\n`);
      }
    },
    setRedactor(fn) {
      redact = fn;
    },
    close() {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    },
  };
  return log;
}

/** The command line as it may be logged: the value of each --var hidden (it may be a secret). */
export function loggableArgs(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const m = /^(--?var)(=([^=]*)=.*)?$/.exec(a);
    if (m?.[2] !== undefined) out.push(`${m[1]}=${m[3]}=…`);
    else if (m) {
      out.push(a);
      const next = argv[i + 1];
      if (next !== undefined) {
        out.push(`${next.split("=")[0]}=…`);
        i++;
      }
    } else out.push(a);
  }
  return out;
}

/** A proxy URL without its password. */
export function loggableUrl(u: string): string {
  try {
    const url = new URL(u);
    if (url.password) url.password = "***";
    return url.href;
  } catch {
    return "(not a URL)";
  }
}
