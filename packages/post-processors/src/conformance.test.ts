/**
 * The post-processor conformance suite from @kiln/sdk (the one third-party post-processors run),
 * for each post-processor here, on the suite's sample artifact (artifact/disk.raw and
 * artifact/disk.json in a temporary build folder).
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { testPostProcessor } from "@kiln/sdk/conformance";
import { expect } from "vitest";
import plugin from "./index.js";

// An output inside a file of the artifact cannot be created.
const impossible = "artifact/disk.raw/inside-a-file";

testPostProcessor({
  plugin,
  type: "manifest",
  example: { output: "manifest.json", custom_data: { built_by: "conformance" } },
  invalid: [{ output: 42 }, { custom_data: { n: 1 } }],
  failing: [{ output: `${impossible}/manifest.json` }],
  verify: async (run) => {
    const doc = JSON.parse(await readFile(join(run.baseDir, "manifest.json"), "utf8"));
    expect(doc.builds[0].artifact_id).toBe("conformance-image-1");
    expect(doc.builds[0].custom_data).toEqual({ built_by: "conformance" });
  },
});

testPostProcessor({
  plugin,
  type: "checksum",
  example: { checksum_types: ["sha256", "md5"], output: "sums/{{.ChecksumType}}.txt" },
  invalid: [{ checksum_types: ["crc32"] }, { output: ["x"] }],
  failing: [{ output: `${impossible}/{{.ChecksumType}}.txt` }, { output: "{{.NoSuchField}}.txt" }],
  verify: async (run) => {
    const text = await readFile(join(run.baseDir, "sums/sha256.txt"), "utf8");
    expect(text).toMatch(/^[0-9a-f]{64} {2}disk\.raw\n[0-9a-f]{64} {2}disk\.json\n$/);
  },
});

testPostProcessor({
  plugin,
  type: "compress",
  example: { output: "out/image.tar.gz" },
  invalid: [{ format: "rar" }, { compression_level: 99 }],
  failing: [{ output: `${impossible}/image.tar.gz` }, { format: "gzip" }, { output: "image.zip" }],
  verify: (run) => {
    expect(run.result?.artifact.files).toEqual([join(run.baseDir, "out/image.tar.gz")]);
  },
});

testPostProcessor({
  plugin,
  type: "shell-local",
  example: { inline: ["echo conformance $KILN_ARTIFACT_ID"] },
  invalid: [{ inline: "echo not a list" }, { only_on: ["plan9"] }],
  failing: [{ inline: ["exit 3"] }, { script: "no-such-script.sh" }],
  verify: (run) => {
    const out = run.events.filter((e) => e.type === "output").map((e) => e.line);
    expect(out).toContain("conformance conformance-image-1");
  },
});
