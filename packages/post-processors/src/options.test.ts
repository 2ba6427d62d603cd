/** Every option the post-processors declare is read somewhere: by their own code or by the SDK's. */
import { join } from "node:path";
import { ensureDist, sdkDistDir, unreadOptions } from "@kiln/sdk/testing";
import { describe, expect, it } from "vitest";
import { checksumSchema, compressSchema, manifestSchema, shellLocalSchema } from "./schema.js";

const PKG_DIR = join(import.meta.dirname, "..");
const dirs = () => [join(PKG_DIR, "dist"), sdkDistDir()];

describe("the post-processors' options", () => {
  const schemas = {
    manifest: manifestSchema,
    checksum: checksumSchema,
    compress: compressSchema,
    "shell-local": shellLocalSchema,
  };

  it.each(Object.entries(schemas))(
    "of %s are all read (none accepted, documented and ignored)",
    (_type, schema) => {
      ensureDist(PKG_DIR);
      expect(unreadOptions(schema, { dirs: dirs() })).toEqual([]);
    },
  );

  it("the check sees an option nobody reads", () => {
    ensureDist(PKG_DIR);
    const schema = { properties: { ...checksumSchema.properties, kiln_never_reads_this: {} } };
    expect(unreadOptions(schema, { dirs: dirs() })).toEqual(["kiln_never_reads_this"]);
  });

  it("carry their simple defaults in the schema", () => {
    expect(manifestSchema.properties.output).toMatchObject({
      default: "packer-manifest.json",
      description: expect.stringMatching(/Default: packer-manifest\.json\.$/),
    });
    expect(checksumSchema.properties.checksum_types.default).toEqual(["md5"]);
    expect(checksumSchema.properties.output.default).toBe(
      "packer_{{.BuildName}}_{{.BuilderType}}_{{.ChecksumType}}.checksum",
    );
    expect(shellLocalSchema.properties.valid_exit_codes.default).toEqual([0]);
    // Computed from other options or the platform, not declared.
    expect(compressSchema.properties.format).not.toHaveProperty("default");
    expect(shellLocalSchema.properties.tempfile_extension).not.toHaveProperty("default");
  });
});
