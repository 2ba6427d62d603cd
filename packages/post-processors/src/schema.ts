import { type JsonSchema, objectSchema } from "@kiln/sdk";

const str = (description: string): JsonSchema => ({ type: "string", description });
const bool = (description: string): JsonSchema => ({ type: "boolean", description });
const strList = (description: string): JsonSchema => ({ type: "array", items: { type: "string" }, description });

export const manifestSchema = objectSchema({
  output: str("Manifest file. Default: packer-manifest.json (Packer's format, so existing tooling reads it)."),
  strip_path: bool("Write artifact file names without their folders."),
  strip_time: bool("Leave out build_time."),
  custom_data: { type: "object", additionalProperties: { type: "string" }, description: "Extra key/values for each build." },
});

export const checksumSchema = objectSchema({
  checksum_types: {
    type: "array",
    items: { enum: ["md5", "sha1", "sha224", "sha256", "sha384", "sha512"] },
    description: "Checksums to compute. Default: [md5].",
  },
  output: str("Checksum file name; may use {{.BuildName}}, {{.BuilderType}}, {{.ChecksumType}}."),
});

export const compressSchema = objectSchema({
  output: str("Archive name; its extension picks the format (.gz, .xz, .zst, .tar, .tar.gz …)."),
  format: { enum: ["gzip", "xz", "zstd", "tar", "tar.gz", "tar.xz", "tar.zst"], description: "Format, when output's extension does not say." },
  compression_level: { type: "integer", minimum: 0, maximum: 22, description: "Compression level (format specific)." },
});

export const shellLocalSchema = objectSchema({
  command: str("One command to run."),
  inline: strList("Commands to run as one script."),
  inline_shebang: str("Interpreter line for inline commands. Default: /bin/sh -e."),
  script: str("Path of a script to run."),
  scripts: strList("Scripts to run in order."),
  environment_vars: strList("NAME=value pairs set for the scripts."),
  env: { type: "object", additionalProperties: { type: "string" } },
  execute_command: str("How a script is run; {{.Vars}} and {{.Path}} are replaced as in Packer."),
  only_on: strList("Run only on these operating systems."),
  valid_exit_codes: { type: "array", items: { type: "integer" } },
});
