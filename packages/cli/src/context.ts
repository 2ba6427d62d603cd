/** What every command gets and returns: its context and the exit codes. */
export const EXIT = { OK: 0, BUILD_FAILED: 1, INVALID: 2, NOT_FORMATTED: 3, INTERNAL: 70 } as const;

/** KILN_LOG's debug log (debug-log.ts). */
export interface DebugLog {
  readonly enabled: boolean;
  /** Where it goes: a file path, "stderr", or undefined when off. */
  readonly target: string | undefined;
  write(text: string): void;
  /** From now on, lines pass through this (the build's secrets registry). */
  setRedactor(redact: (s: string) => string): void;
  close(): void;
}

/** KILN_LOG=1 (any value but empty, 0 or false) asks for the debug log. */
export const wantsDebugLog = (env: NodeJS.ProcessEnv): boolean => {
  const v = env.KILN_LOG;
  return v !== undefined && v !== "" && v !== "0" && v.toLowerCase() !== "false";
};

export const NO_DEBUG_LOG: DebugLog = {
  enabled: false,
  target: undefined,
  write: () => undefined,
  setRedactor: () => undefined,
  close: () => undefined,
};

export interface CommandContext {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  color: boolean;
  /** The command's usage line, for errors. */
  usage: string;
  /** KILN_LOG's debug log (a no-op when it is off). */
  debug: DebugLog;
}
