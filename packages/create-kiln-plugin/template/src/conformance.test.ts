// kiln's shared conformance suite: option validation, events, artifact shape, cleanup on failure
// and on abort, secrets. The first-party builders run the same suite.
import { testBuilder } from "@kiln/sdk/conformance";
import plugin from "./index.js";

testBuilder({
  plugin,
  type: "__TYPE__",
  example: { output_directory: "output-test", message: "hello", api_token: "example-token-123456" },
  invalid: [{ message: 42 }, { output_directory: ["not", "a", "string"] }, { unknown_option: true }],
  secrets: ["example-token-123456"],
});
