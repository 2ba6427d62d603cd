import { KilnError } from "@kiln/core";

/** Stable codes carried by {@link CommunicatorError}. */
export type CommunicatorErrorCode =
  | "KILN_SSH_CONFIG"
  | "KILN_SSH_TIMEOUT"
  | "KILN_SSH_AUTH_FAILED"
  | "KILN_SSH_HOST_KEY_MISMATCH"
  | "KILN_SSH_ABORTED"
  | "KILN_SSH_NOT_CONNECTED"
  | "KILN_SSH_DISCONNECTED"
  | "KILN_SSH_EXEC_TIMEOUT"
  | "KILN_SSH_EXEC_FAILED"
  | "KILN_SSH_TRANSFER_FAILED"
  | "KILN_SSH_INTEGRITY"
  | "KILN_SSH_KEY"
  | "KILN_SSH_PROXY"
  | "KILN_SSH_TUNNEL"
  | "KILN_COMMUNICATOR_NONE"
  | "KILN_CHROOT_CONFIG"
  | "KILN_CHROOT_NOT_CONNECTED"
  | "KILN_CHROOT_ABORTED"
  | "KILN_CHROOT_EXEC_TIMEOUT"
  | "KILN_CHROOT_EXEC_FAILED"
  | "KILN_CHROOT_TRANSFER_FAILED";

const CHROOT_CODES = new Set<string>([
  "KILN_CHROOT_CONFIG",
  "KILN_CHROOT_NOT_CONNECTED",
  "KILN_CHROOT_ABORTED",
  "KILN_CHROOT_EXEC_TIMEOUT",
  "KILN_CHROOT_EXEC_FAILED",
  "KILN_CHROOT_TRANSFER_FAILED",
]);

/**
 * An error raised by a communicator. Recognise it by its `code` (see {@link CommunicatorError.is}),
 * not with `instanceof`: a plugin may load a second copy of this package.
 * Messages never contain passwords or private keys.
 */
export class CommunicatorError extends KilnError {
  declare readonly code: CommunicatorErrorCode;

  constructor(code: CommunicatorErrorCode, message: string, options?: { cause?: unknown; hint?: string }) {
    super(code, message, options);
    this.name = "CommunicatorError";
  }

  /** True when `err` is a communicator error (optionally with the given code), from any copy of the package. */
  static is(err: unknown, code?: CommunicatorErrorCode): err is CommunicatorError {
    if (typeof err !== "object" || err === null) return false;
    const c = (err as { code?: unknown }).code;
    if (typeof c !== "string") return false;
    if (code !== undefined) return c === code;
    return c.startsWith("KILN_SSH_") || c === "KILN_COMMUNICATOR_NONE" || CHROOT_CODES.has(c);
  }
}
