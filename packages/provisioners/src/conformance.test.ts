/**
 * The provisioner conformance suite from @kiln/sdk (the one third-party provisioners run), for
 * each provisioner here. shell and file run against the suite's local communicator, so their
 * scripts really run and their files really arrive.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { testProvisioner } from "@kiln/sdk/conformance";
import { expect } from "vitest";
import plugin from "./index.js";

const token = "kiln-conformance-token-4821";

testProvisioner({
  plugin,
  type: "shell",
  example: {
    inline: ["echo conformance shell $SECRET_TOKEN", "echo made > shell-ran.txt"],
    env: { SECRET_TOKEN: token },
  },
  secrets: [token],
  invalid: [{ inline: "echo not a list" }, { valid_exit_codes: ["zero"] }, { pause_after: 5 }],
  failing: [
    { inline: ["exit 3"] },
    { script: "no-such-script.sh" },
    { inline: ["true"], pause_after: "soon" },
  ],
  longRunning: { inline: ["sleep 600"] },
  verify: async (run) => {
    expect(await readFile(join(run.remoteDir, "shell-ran.txt"), "utf8")).toBe("made\n");
    const out = run.events.filter((e) => e.type === "output").map((e) => e.line);
    expect(out).toContain("conformance shell <sensitive>");
  },
});

testProvisioner({
  plugin,
  type: "file",
  files: { "files/a.txt": "a\n", "files/sub/b.txt": "b\n" },
  example: { source: "files/", destination: "dest" },
  invalid: [{ source: "x" }, { source: "x", destination: "y", direction: "sideways" }],
  failing: [
    { source: "does-not-exist.txt", destination: "x" },
    { direction: "download", source: "not-on-the-machine", destination: "got/" },
    { sources: ["files/a.txt", "files/sub/b.txt"], destination: "not-a-folder" },
  ],
  verify: async (run) => {
    expect(await readFile(join(run.remoteDir, "dest/a.txt"), "utf8")).toBe("a\n");
    expect(await readFile(join(run.remoteDir, "dest/sub/b.txt"), "utf8")).toBe("b\n");
  },
});

testProvisioner({
  plugin,
  type: "shell-local",
  example: { inline: ["echo conformance shell-local $SECRET_TOKEN"], env: { SECRET_TOKEN: token } },
  secrets: [token],
  invalid: [{ command: ["not", "a", "string"] }, { only_on: "linux" }],
  failing: [{ inline: ["exit 3"] }, { script: "no-such-script.sh" }],
  longRunning: { inline: ["sleep 600"] },
  verify: (run) => {
    const out = run.events
      .filter((e) => e.type === "output")
      .map((e) => e.line)
      .join("\n");
    expect(out).toContain("conformance shell-local <sensitive>");
  },
});

// Enabled, the breakpoint waits for Enter on a terminal (and continues when stdin is not one):
// the suite runs it disabled, which must not wait either way.
testProvisioner({
  plugin,
  type: "breakpoint",
  example: { disable: true, note: "conformance" },
  invalid: [{ disable: "yes" }, { note: 42 }],
});
