/** A step that runs one provisioner as the engine's provision step does, for step-level tests. */
import { applyDefaults, COMMUNICATOR, type ProvisionerRuntime, type RunContext, type Step } from "@kiln/core";
import type { TSchema } from "@sinclair/typebox";

/** The provisioner's options with their schema's defaults, and the run's communicator. */
export function provisionStep<O>(
  runtime: ProvisionerRuntime<O>,
  schema: TSchema,
  options: Record<string, unknown>,
  name = "provision",
): Step {
  return {
    name,
    async run(ctx: RunContext) {
      await runtime.provision({
        ...ctx,
        options: applyDefaults(schema, options) as O,
        communicator: ctx.state.require(COMMUNICATOR),
      });
    },
  };
}
