/** The last step: the build finished, so its OMIs stay (the other steps' cleanups delete them otherwise). */
import type { Step } from "@kiln/core";
import { DONE } from "../state.js";

export function finishStep(): Step {
  return {
    name: "finish",
    async run(ctx) {
      ctx.state.put(DONE, true);
    },
  };
}
