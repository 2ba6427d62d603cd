/**
 * One builder-error helper: every message a builder gives starts with `[type] `, configuration
 * problems share one code, durations in options are parsed with a clear error, and the steps —
 * also the SDK's shared ones, which do not know their builder — are wrapped so their errors get
 * the prefix too.
 */
import { KilnError, messageOf, parseDuration, type Step } from "@kiln/core";
import { prefixStepErrors } from "../steps/prefix.js";

export interface BuilderErrorsOptions {
  /** The builder type, e.g. "qemu" or "proxmox-iso". */
  prefix: string;
  /** Code of configuration problems found by prepare, e.g. "KILN_QEMU_CONFIG". */
  configCode: string;
  /** Code of errors that are not KilnErrors (bugs), e.g. "KILN_QEMU_STEP". */
  bugCode: string;
  /** The package to report bugs against, e.g. "@kiln/builder-qemu". */
  packageName: string;
  /** Prefixes the builder's own errors carry that become `prefix` (proxmox: "proxmox" → "proxmox-iso"). */
  rename?: string[];
}

export interface BuilderErrors {
  /** A KilnError whose message starts with `[prefix] `. */
  error(code: string, message: string, hint?: string, cause?: unknown): KilnError;
  /** A configuration error (configCode). */
  config(message: string, hint?: string): KilnError;
  /** An option's duration in ms, or a configuration error naming the option. */
  duration(name: string, value: string): number;
  /** The step with its errors prefixed (a non-KilnError becomes a bug report). */
  wrap(step: Step): Step;
}

export function builderErrors(o: BuilderErrorsOptions): BuilderErrors {
  const error = (code: string, message: string, hint?: string, cause?: unknown): KilnError =>
    new KilnError(code, `[${o.prefix}] ${message}`, {
      ...(hint ? { hint } : {}),
      ...(cause !== undefined ? { cause } : {}),
    });
  return {
    error,
    config: (message, hint) => error(o.configCode, message, hint),
    duration(name, value) {
      try {
        return parseDuration(value);
      } catch (e) {
        throw error(o.configCode, `${name}: ${messageOf(e)}`, 'Write a duration such as "30s" or "5m".');
      }
    },
    wrap: (step) =>
      prefixStepErrors(step, {
        prefix: o.prefix,
        bugCode: o.bugCode,
        packageName: o.packageName,
        ...(o.rename ? { rename: o.rename } : {}),
      }),
  };
}
