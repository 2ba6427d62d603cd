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
  withScriptSources,
} from "@kiln/sdk";

const anyOfStrings = <const V extends readonly [string, ...string[]]>(values: V) =>
  Type.Unsafe<V[number]>({ enum: [...values] });

/** The `{{.Field}}`s of output templates: the run's build vars (Packer's names). */
export const TEMPLATE_FIELDS = [
  "BuildName",
  "BuilderType",
  "SourceName",
  "PackerRunUUID",
  "ID",
  "Host",
  "Port",
  "User",
  "Password",
  "SSHPublicKey",
  "SSHPrivateKey",
  "PackerHTTPAddr",
  "PackerHTTPIP",
  "PackerHTTPPort",
] as const;

/**
 * A pattern for text whose every `{{…}}` is one of `fields` (`{{.BuildName}}`, `{{- .ID -}}`);
 * `${{` (a kiln expression left as text) is not a template.
 */
export function templatePattern(fields: readonly string[]): string {
  const field = fields.length ? `|\\{\\{-?\\s*\\.(?:${fields.join("|")})\\s*-?\\}\\}` : "";
  return `^(?:[^{]|\\{(?!\\{)|\\$\\{\\{${field})*$`;
}

export const manifestSchema = options({
  output: withDefault(
    str(
      "Manifest file, in Packer's format (so existing tooling reads it). Its name takes no {{.Field}} templates; use an expression such as ${{ build.BuildName }}.",
      { pattern: templatePattern([]) },
    ),
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
    str(
      `Checksum file name; may use the fields {{.ChecksumType}}, ${TEMPLATE_FIELDS.map((f) => `{{.${f}}}`).join(", ")}.`,
      { pattern: templatePattern([...TEMPLATE_FIELDS, "ChecksumType"]) },
    ),
    "packer_{{.BuildName}}_{{.BuilderType}}_{{.ChecksumType}}.checksum",
  ),
});
export type ChecksumOptions = OptionsOf<typeof checksumSchema>;

export const FORMATS = ["gzip", "xz", "zstd", "tar", "tar.gz", "tar.xz", "tar.zst"] as const;
export type Format = (typeof FORMATS)[number];

/** Formats by file-name ending (matched in any case), longest first. */
export const BY_SUFFIX: [string, Format][] = [
  [".tar.gz", "tar.gz"],
  [".tar.xz", "tar.xz"],
  [".tar.zst", "tar.zst"],
  [".tar.zstd", "tar.zst"],
  [".tgz", "tar.gz"],
  [".txz", "tar.xz"],
  [".tzst", "tar.zst"],
  [".tar", "tar"],
  [".gz", "gzip"],
  [".xz", "xz"],
  [".zst", "zstd"],
  [".zstd", "zstd"],
];

/** A pattern for names ending in one of `suffixes`, in any case. */
function endingPattern(suffixes: readonly string[]): string {
  const anyCase = (s: string) =>
    [...s].map((c) => (/[a-z]/.test(c) ? `[${c}${c.toUpperCase()}]` : c === "." ? "\\." : c)).join("");
  return `(?:${suffixes.map(anyCase).join("|")})$`;
}
const endings = (formats: readonly Format[]) =>
  BY_SUFFIX.filter(([, f]) => formats.includes(f)).map(([s]) => s);
const GZIP_XZ: Format[] = ["gzip", "xz", "tar.gz", "tar.xz"];
const ZSTD: Format[] = ["zstd", "tar.zst"];

const LEVEL_DESCRIPTION = "Compression level: gzip and xz 0-9 (default 6), zstd 1-22 (default 3).";
const level = (range: { minimum?: number; maximum?: number }) => ({
  properties: { compression_level: { ...range, description: LEVEL_DESCRIPTION } },
});
const formatIs = (formats: readonly Format[]) => ({
  required: ["format"],
  properties: { format: { enum: formats } },
});
const outputEnds = (formats: readonly Format[]) => ({
  required: ["output"],
  properties: { output: { pattern: endingPattern(endings(formats)) } },
});

/**
 * What compress checks before it runs, as schema (so `kiln validate` reports it): without
 * `format`, output must end in a supported extension; the level's range is the format's.
 */
const COMPRESS_RULES = [
  {
    if: { not: { required: ["format"] }, required: ["output"] },
    then: {
      properties: {
        output: {
          pattern: endingPattern(BY_SUFFIX.map(([s]) => s)),
          description: `Without format, output's extension picks the format; supported: ${BY_SUFFIX.map(([s]) => s).join(", ")}. Set format to write another name.`,
        },
      },
    },
  },
  // gzip/xz: at most 9 — by format, by output's extension, or by default (tar.gz)
  { if: formatIs(GZIP_XZ), then: level({ maximum: 9 }) },
  {
    if: { not: { anyOf: [{ required: ["format"] }, outputEnds([...ZSTD, "tar"])] } },
    then: level({ maximum: 9 }),
  },
  // zstd: at least 1
  { if: formatIs(ZSTD), then: level({ minimum: 1 }) },
  { if: { not: { required: ["format"] }, ...outputEnds(ZSTD) }, then: level({ minimum: 1 }) },
];

export const compressSchema = Object.assign(
  options({
    output: str(
      `Archive name; may use the fields ${TEMPLATE_FIELDS.map((f) => `{{.${f}}}`).join(", ")}; its extension picks the format (.gz, .xz, .zst, .tar, .tar.gz …). Default: {{.BuildName}}.<format's extension> beside the input.`,
      { pattern: templatePattern(TEMPLATE_FIELDS) },
    ),
    format: oneOf(
      FORMATS,
      "Format; wins over output's extension (a warning is shown when they differ). Default: from output's extension, else tar.gz when output is not set.",
    ),
    compression_level: int(LEVEL_DESCRIPTION, {
      minimum: 0,
      maximum: 22,
    }),
  }),
  { allOf: COMPRESS_RULES },
);
export type CompressOptions = OptionsOf<typeof compressSchema>;

/** The only_on names the shell-local post-processor takes (Packer's). */
export const SHELL_LOCAL_ONLY_ON = ["darwin", "freebsd", "linux", "openbsd", "solaris", "windows"] as const;

export const shellLocalSchema = withScriptSources(
  options({
    ...LOCAL_SHELL_OPTIONS,
    tempfile_extension: str(
      "Extension of the temporary script made from inline commands. Default: none (cmd on Windows).",
    ),
    only_on: Type.Optional(
      Type.Array(anyOfStrings(SHELL_LOCAL_ONLY_ON), {
        description: "Run only on these operating systems (Packer's names); skipped elsewhere.",
      }),
    ),
  }),
  { command: true, scriptWithScripts: false },
);
export type ShellLocalOptions = OptionsOf<typeof shellLocalSchema>;
