import { type BuilderRuntime, defineBuilder, definePlugin } from "@kiln/core";
import { COMMUNICATOR_OPTIONS, type CommunicatorOptions, connectStep, options, SSH_OPTIONS } from "@kiln/sdk";

export const nullSchema = options(
  { ...COMMUNICATOR_OPTIONS, ...SSH_OPTIONS },
  { description: "Connect to an existing machine and run the provisioners; makes no image." },
);

/** The null builder: connect, provision, done. Its artifact has no files (as Packer's). */
export const nullBuilderRuntime: BuilderRuntime<CommunicatorOptions> = {
  steps: (options, ctx) => [connectStep(options), ctx.provisionStep()],
  artifact: () => ({
    builderType: "null",
    id: "Null",
    files: [],
    description: "Did not export anything. This is the null builder",
  }),
};

export const nullBuilder = defineBuilder({
  type: "null",
  description: "Provision an existing machine over SSH without making an image.",
  schema: nullSchema,
  create: () => nullBuilderRuntime,
});

export default definePlugin({ name: "@kiln/builder-null", builders: [nullBuilder] });
