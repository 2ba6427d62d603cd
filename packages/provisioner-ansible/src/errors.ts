/** This package's errors: `[ansible] …` / `[ansible-local] …` messages with stable codes. */
import type { KilnError } from "@kiln/core";
import { prefixedError, wrapPrefixedError } from "@kiln/sdk";

export const CODES = {
  /** An option value the schema accepts but that cannot work (a missing playbook, a bad NAME=value). */
  options: "KILN_PROVISIONER_OPTIONS",
  /** ansible-playbook (or ansible-galaxy) is not installed where it must run. */
  missing: "KILN_ANSIBLE_NOT_FOUND",
  /** The playbook failed: a task failed, a host was unreachable, ansible reported an error. */
  playbook: "KILN_ANSIBLE_FAILED",
  /** Uploading, the local endpoint or something else around the run failed. */
  failed: "KILN_PROVISIONER_FAILED",
} as const;

export type Component = "ansible" | "ansible-local";

/** A KilnError whose message starts with `[type] `. */
export const ansibleError: (
  type: Component,
  code: string,
  message: string,
  extra?: { hint?: string | undefined; cause?: unknown },
) => KilnError = prefixedError;

/** `[type] what: reason`, keeping a communicator error's code and hint. */
export function wrapError(type: Component, what: string, err: unknown): KilnError {
  return wrapPrefixedError(type, what, err, CODES.failed);
}

/** How to get ansible-playbook, for the message when it is missing. */
export const INSTALL_HINT =
  "Install ansible on this machine (Debian/Ubuntu: apt-get install ansible; Fedora: dnf install ansible; macOS: brew install ansible; anywhere: pipx install ansible-core), or set command to the path of ansible-playbook.";
