import type { DebugLog } from "./debug-log.js";

/** What every command gets and returns: its context and the exit codes. */
export const EXIT = { OK: 0, BUILD_FAILED: 1, INVALID: 2, NOT_FORMATTED: 3, INTERNAL: 70 } as const;

export interface CommandContext {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  color: boolean;
  /** KILN_LOG's debug log (a no-op when it is off). */
  debug: DebugLog;
}
