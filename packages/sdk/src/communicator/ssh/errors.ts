/** Small error helpers shared by the SSH modules. */
import { CommunicatorError } from "../errors.js";

/** The error of an SSH operation cancelled through its AbortSignal. */
export function cancelled(what: string): CommunicatorError {
  return new CommunicatorError("KILN_SSH_ABORTED", `${what} was cancelled`);
}

/** An error as one line: its message, with the errno code when the message lacks it. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
  }
  return String(err);
}
