import { bool, int, oneOf, options, str, strList, strMap, Type } from "@kiln/sdk";

const anyOfStrings = <const V extends readonly [string, ...string[]]>(values: V) =>
  Type.Unsafe<V[number]>({ enum: [...values] });

export const manifestSchema = options({
  output: str(
    "Manifest file. Default: packer-manifest.json (Packer's format, so existing tooling reads it).",
  ),
  strip_path: bool("Write artifact file names without their folders."),
  strip_time: bool("Leave out build_time."),
  custom_data: strMap("Extra key/values for each build."),
});

export const checksumSchema = options({
  checksum_types: Type.Optional(
    Type.Array(anyOfStrings(["md5", "sha1", "sha224", "sha256", "sha384", "sha512"]), {
      description: "Checksums to compute. Default: [md5].",
    }),
  ),
  output: str(
    "Checksum file name; may use {{.BuildName}}, {{.BuilderType}}, {{.ChecksumType}}. Default: packer_{{.BuildName}}_{{.BuilderType}}_{{.ChecksumType}}.checksum.",
  ),
});

export const compressSchema = options({
  output: str(
    "Archive name; may use {{.BuildName}} and {{.BuilderType}}; its extension picks the format (.gz, .xz, .zst, .tar, .tar.gz …). Default: {{.BuildName}}.<format's extension> beside the input.",
  ),
  format: oneOf(
    ["gzip", "xz", "zstd", "tar", "tar.gz", "tar.xz", "tar.zst"],
    "Format; wins over output's extension. Default: from output's extension, else tar.gz.",
  ),
  compression_level: int("Compression level: gzip and xz 0-9 (default 6), zstd 1-22 (default 3).", {
    minimum: 0,
    maximum: 22,
  }),
});

export const shellLocalSchema = options({
  command: str("One command to run."),
  inline: strList("Commands to run as one script."),
  inline_shebang: str("Interpreter line for inline commands. Default: /bin/sh -e."),
  script: str("Path of a script to run."),
  scripts: strList("Scripts to run in order."),
  environment_vars: strList("NAME=value pairs set for the scripts."),
  env: strMap("Environment variables for the scripts; override environment_vars."),
  execute_command: Type.Optional(
    Type.Union([Type.String(), Type.Array(Type.String(), { minItems: 1 })], {
      description:
        'How a script is run, as Packer: a list (default ["/bin/sh", "-c", "{{.Vars}} {{.Script}}"]) or one string run with sh -c. {{.Vars}} is the environment as KEY=\'value\' pairs; {{.Script}} (or {{.Path}}) the script.',
    }),
  ),
  env_var_format: str(
    "How each variable is written into {{.Vars}} (Go format with two %s). Default: %s='%s' followed by a space.",
  ),
  tempfile_extension: str("Extension of the temporary script made from inline commands."),
  only_on: Type.Optional(
    Type.Array(anyOfStrings(["darwin", "freebsd", "linux", "openbsd", "solaris", "windows"]), {
      description: "Run only on these operating systems (Packer's names); skipped elsewhere.",
    }),
  ),
  valid_exit_codes: Type.Optional(
    Type.Array(Type.Integer(), { description: "Exit codes that count as success. Default: [0]." }),
  ),
});
