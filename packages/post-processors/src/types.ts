/** The engine's run-time contract, as the post-processors use it. */
export type {
  Artifact,
  BuildVars,
  PostProcessContext,
  PostProcessorRuntime,
  PostProcessResult,
  RunContext,
  RunInfo,
  StateBag,
  Ui,
} from "@kiln/core";
