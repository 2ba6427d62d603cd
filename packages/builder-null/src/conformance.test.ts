import { testBuilder } from "@kiln/sdk/conformance";
import plugin from "./index.js";

// The same suite third-party builders run (create-kiln-plugin scaffolds it).
testBuilder({
  plugin,
  type: "null",
  example: { communicator: "none" },
  invalid: [{ communicator: "telnet" }, { communicator: "ssh", ssh_port: "twenty-two" }],
});
