/**
 * Errors of a builder's steps start with `[<type>] ` so the user sees which builder failed —
 * also those from shared code (downloads, ISO writing, HTTP, SSH), which does not know its
 * builder. Anything that is not a KilnError is a bug of the builder, reported as such.
 */
import { isKilnError, KilnError, type Step, StepTimeoutError } from "@kiln/core";

export interface PrefixErrorsOptions {
  /** The prefix without brackets, e.g. "qemu" or "proxmox-iso". */
  prefix: string;
  /** Code for errors that are not KilnErrors, e.g. "KILN_QEMU_STEP". */
  bugCode: string;
  /** The package to report bugs against, e.g. "@kiln/builder-qemu". */
  packageName: string;
  /** Prefixes (without brackets) the builder's own errors carry and that become `prefix`. */
  rename?: string[];
}

export function prefixStepErrors(step: Step, o: PrefixErrorsOptions): Step {
  const rename = (o.rename ?? []).map((p) => `[${p}] `);
  return {
    ...step,
    async run(ctx) {
      try {
        await step.run(ctx);
      } catch (e) {
        if (ctx.signal.aborted && !(ctx.signal.reason instanceof StepTimeoutError)) throw e;
        if (isKilnError(e)) {
          const own = rename.find((p) => e.message.startsWith(p));
          if (e.message.startsWith("[") && !own) throw e;
          const text = own ? e.message.slice(own.length) : e.message;
          throw new KilnError(e.code, `[${o.prefix}] ${text}`, {
            cause: e,
            ...(e.hint ? { hint: e.hint } : {}),
            diagnostics: e.diagnostics,
            secrets: e.secrets,
          });
        }
        throw new KilnError(
          o.bugCode,
          `[${o.prefix}] step "${step.name}" failed: ${e instanceof Error ? e.message : String(e)}`,
          {
            hint: `This looks like a bug in ${o.packageName}; please report it with the build log.`,
            cause: e,
          },
        );
      }
    },
  };
}
