/**
 * The builder's options, declared once: this schema validates build files, and its type
 * (`Options`) is what the steps read. A default written here is applied by kiln before the
 * builder runs, so no step needs `?? default`.
 */
import { type OptionsOf, options, str, withDefault } from "@kiln/sdk";

export const schema = options(
  {
    output_directory: str(
      "Where the artifact goes (relative to the build file). Default: output-<source name>.",
    ),
    message: withDefault(str("What to write."), "built by __NAME__"),
    api_token: str("An example secret: registered with ctx.secret() so kiln never prints it."),
  },
  { description: "An example builder: writes a file with a message into output_directory." },
);

export type Options = OptionsOf<typeof schema>;
