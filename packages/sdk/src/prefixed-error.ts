/**
 * A plugin's errors as users see them: `[type] message`, with a stable code, and a failure of the
 * communicator (or anything else) wrapped as `[type] what: reason` that keeps the communicator's
 * own code and hint.
 */
import { KilnError, messageOf } from "@kiln/core";
import { CommunicatorError } from "./communicator/errors.js";

/** A KilnError whose message starts with `[type] `. */
export function prefixedError(
  type: string,
  code: string,
  message: string,
  extra: { hint?: string | undefined; cause?: unknown } = {},
): KilnError {
  return new KilnError(code, `[${type}] ${message}`, {
    ...(extra.hint !== undefined ? { hint: extra.hint } : {}),
    ...(extra.cause !== undefined ? { cause: extra.cause } : {}),
  });
}

/**
 * `[type] what: reason` for a failure `err`: a CommunicatorError keeps its code, anything else
 * gets `code`; a hint the error carries is kept.
 */
export function wrapPrefixedError(type: string, what: string, err: unknown, code: string): KilnError {
  const hint = (err as { hint?: unknown } | undefined)?.hint;
  return prefixedError(type, CommunicatorError.is(err) ? err.code : code, `${what}: ${messageOf(err)}`, {
    hint: typeof hint === "string" ? hint : undefined,
    cause: err,
  });
}
