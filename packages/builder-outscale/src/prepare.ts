/**
 * What every outscale builder's prepare does, once: the keys registered as secrets, the
 * builder's own option checks, the credentials resolved (nothing is sent), each error in the
 * builder's `[type]` form.
 */
import type { RunContext, Step } from "@kiln/core";
import { type AccessOptions, resolveCredentials } from "./credentials.js";
import { type OutscaleType, outscaleErrors } from "./errors.js";

export async function prepareBuilder(
  type: OutscaleType,
  o: AccessOptions,
  ctx: RunContext,
  checkOptions: () => void,
): Promise<void> {
  const step: Step = {
    name: "prepare",
    async run() {
      for (const s of [o.access_key, o.secret_key]) if (s) ctx.secret(s);
      checkOptions();
      resolveCredentials(o, { env: process.env, baseDir: ctx.baseDir });
    },
  };
  await outscaleErrors(type).wrap(step).run(ctx);
}

/** The SSH options with Packer's older `ssh_wait_timeout` as the fallback of `ssh_timeout` (10m). */
export function withSshTimeout<O extends { ssh_timeout?: string; ssh_wait_timeout?: string }>(o: O): O {
  return { ...o, ssh_timeout: o.ssh_timeout ?? o.ssh_wait_timeout ?? "10m" };
}
