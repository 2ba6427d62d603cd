/**
 * The frame of every outscale builder's runtime, once: prepare (prepareBuilder with the builder's
 * own checks), its steps each wrapped in the builder's `[type]` errors (the provision step as
 * the engine gives it), and its artifact.
 */
import type { Artifact, BuilderRuntime, RunContext, Step } from "@kiln/core";
import type { BuilderErrors } from "@kiln/sdk";
import type { AccessOptions } from "./credentials.js";
import { type OutscaleType, outscaleErrors } from "./errors.js";
import { prepareBuilder } from "./prepare.js";

export interface OutscaleBuilderParts<O> {
  /** The builder's own option checks (prepare); throw `e.config(…)` for a problem. */
  check(o: O, ctx: RunContext, e: BuilderErrors): void;
  /** The run's steps; `provision` is the engine's provision step, left unwrapped. */
  steps(o: O, provision: Step): Step[];
  artifact(o: O, ctx: RunContext): Artifact | undefined;
}

export function outscaleRuntime<O extends AccessOptions>(
  type: OutscaleType,
  parts: OutscaleBuilderParts<O>,
): BuilderRuntime<O> {
  const e = outscaleErrors(type);
  return {
    async prepare(o, ctx) {
      await prepareBuilder(type, o, ctx, () => parts.check(o, ctx, e));
    },
    steps(o, ctx) {
      const provision = ctx.provisionStep();
      return parts.steps(o, provision).map((s) => (s === provision ? s : e.wrap(s)));
    },
    artifact: parts.artifact,
  };
}
