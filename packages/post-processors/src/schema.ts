import {
  bool,
  int,
  LOCAL_SHELL_OPTIONS,
  type OptionsOf,
  oneOf,
  options,
  str,
  strMap,
  Type,
  withDefault,
} from "@kiln/sdk";

const anyOfStrings = <const V extends readonly [string, ...string[]]>(values: V) =>
  Type.Unsafe<V[number]>({ enum: [...values] });

export const manifestSchema = options({
  output: withDefault(
    str("Manifest file, in Packer's format (so existing tooling reads it)."),
    "packer-manifest.json",
  ),
  strip_path: bool("Write artifact file names without their folders."),
  strip_time: bool("Leave out build_time."),
  custom_data: strMap("Extra key/values for each build."),
});
export type ManifestOptions = OptionsOf<typeof manifestSchema>;

export const CHECKSUM_TYPES = ["md5", "sha1", "sha224", "sha256", "sha384", "sha512"] as const;

export const checksumSchema = options({
  checksum_types: withDefault(
    Type.Array(anyOfStrings(CHECKSUM_TYPES), { description: "Checksums to compute." }),
    ["md5"],
  ),
  output: withDefault(
    str("Checksum file name; may use {{.BuildName}}, {{.BuilderType}}, {{.ChecksumType}}."),
    "packer_{{.BuildName}}_{{.BuilderType}}_{{.ChecksumType}}.checksum",
  ),
});
export type ChecksumOptions = OptionsOf<typeof checksumSchema>;

export const FORMATS = ["gzip", "xz", "zstd", "tar", "tar.gz", "tar.xz", "tar.zst"] as const;

export const compressSchema = options({
  output: str(
    "Archive name; may use {{.BuildName}} and {{.BuilderType}}; its extension picks the format (.gz, .xz, .zst, .tar, .tar.gz …). Default: {{.BuildName}}.<format's extension> beside the input.",
  ),
  format: oneOf(
    FORMATS,
    "Format; wins over output's extension. Default: from output's extension, else tar.gz.",
  ),
  compression_level: int("Compression level: gzip and xz 0-9 (default 6), zstd 1-22 (default 3).", {
    minimum: 0,
    maximum: 22,
  }),
});
export type CompressOptions = OptionsOf<typeof compressSchema>;

/** The only_on names the shell-local post-processor takes (Packer's). */
export const SHELL_LOCAL_ONLY_ON = ["darwin", "freebsd", "linux", "openbsd", "solaris", "windows"] as const;

export const shellLocalSchema = options({
  ...LOCAL_SHELL_OPTIONS,
  tempfile_extension: str(
    "Extension of the temporary script made from inline commands. Default: none (cmd on Windows).",
  ),
  only_on: Type.Optional(
    Type.Array(anyOfStrings(SHELL_LOCAL_ONLY_ON), {
      description: "Run only on these operating systems (Packer's names); skipped elsewhere.",
    }),
  ),
});
export type ShellLocalOptions = OptionsOf<typeof shellLocalSchema>;
