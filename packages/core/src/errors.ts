/**
 * The error catalogue and the diagnostic shape every part of kiln reports problems with.
 *
 * Errors carry a stable `code` so callers test them with `isKilnError(err, code)` rather than
 * `instanceof` (a plugin may load a second copy of core).
 */

export type Severity = "error" | "warning";

/** Where a problem is in a file. Lines and columns are 1-based. */
export interface SourcePosition {
  file: string;
  line: number;
  column: number;
}

/** One problem found in a build file, variables file or command-line value. */
export interface Diagnostic {
  code: string;
  severity: Severity;
  /** What is wrong, in one sentence. */
  message: string;
  /** What to do about it. */
  hint?: string;
  /** Dotted path of the value in the build file, e.g. `sources.ubuntu.boot_wait`. */
  path?: string;
  /** Where in the file; absent only for problems that have no place (a missing file). */
  pos?: SourcePosition;
  /** Lines of `pos.file` near `pos` that hold sensitive values: a code frame shows them as `***`. */
  masked?: number[];
}

export interface CatalogueEntry {
  title: string;
  hint?: string;
}

/** Stable error codes. Titles are for docs; messages are written where the problem is found. */
export const ERRORS = {
  KILN_FILE_NOT_FOUND: {
    title: "Build file not found",
    hint: "Check the path, or run kiln from the folder that holds the file.",
  },
  KILN_FILE_TOO_LARGE: {
    title: "File too large",
    hint: "Build files are small; split data out with file() or templatefile().",
  },
  KILN_FILE_ENCODING: { title: "File is not UTF-8", hint: "Save the file as UTF-8 (without a BOM is best)." },
  KILN_YAML_SYNTAX: { title: "YAML syntax error" },
  KILN_YAML_TAB: {
    title: "Tab used for indentation",
    hint: "YAML indents with spaces only; replace the tab with spaces.",
  },
  KILN_YAML_DUPLICATE_KEY: {
    title: "Duplicate key",
    hint: "Each key may appear once in a mapping; remove or rename one.",
  },
  KILN_YAML_MULTI_DOCUMENT: {
    title: "More than one YAML document",
    hint: "A build file is one document; remove the `---` separator or split the file.",
  },
  KILN_YAML_ALIAS_LIMIT: {
    title: "Too many YAML aliases",
    hint: "Aliases expand to more data than a build file needs; write the values out.",
  },
  KILN_YAML_RECURSIVE_ALIAS: {
    title: "Recursive YAML alias",
    hint: "A value cannot contain itself; write it out or use a different anchor.",
  },
  KILN_YAML_TAG: {
    title: "Unsupported YAML tag",
    hint: "Build files use plain YAML 1.2 values; remove the tag.",
  },
  KILN_HEADER: { title: "Missing or wrong `kiln:` header", hint: "Start the file with `kiln: 1`." },
  KILN_SCHEMA_UNKNOWN_KEY: { title: "Unknown key" },
  KILN_SCHEMA_REQUIRED: { title: "Missing required key" },
  KILN_SCHEMA_TYPE: { title: "Wrong type" },
  KILN_SCHEMA_ENUM: { title: "Value not allowed" },
  KILN_SCHEMA_FORMAT: { title: "Value has the wrong form" },
  KILN_SCHEMA_RANGE: { title: "Value out of range" },
  KILN_SCHEMA: { title: "Invalid value" },
  KILN_REF_UNKNOWN_SOURCE: { title: "Build names a source that does not exist" },
  KILN_DUPLICATE_NAME: { title: "Name used twice" },
  KILN_EXPR_SYNTAX: { title: "Expression syntax error" },
  KILN_EXPR_UNKNOWN_NAME: { title: "Unknown name in expression" },
  KILN_EXPR_UNKNOWN_FUNCTION: { title: "Unknown function in expression" },
  KILN_EXPR_TYPE: { title: "Wrong type in expression" },
  KILN_EXPR_EVAL: { title: "Expression could not be evaluated" },
  KILN_VAR_UNDEFINED: {
    title: "Variable not declared",
    hint: "Declare it under `variables:` in the build file.",
  },
  KILN_VAR_MISSING: { title: "Variable has no value" },
  KILN_VAR_TYPE: { title: "Variable value has the wrong type" },
  KILN_VAR_VALIDATION: { title: "Variable failed its validation" },
  KILN_VAR_ARG: { title: "Malformed --var argument", hint: "Write --var name=value." },
  KILN_LOCAL_CYCLE: { title: "Locals refer to each other in a cycle" },
  KILN_PLUGIN_NOT_FOUND: { title: "Plugin not found" },
  KILN_PLUGIN_INCOMPATIBLE: { title: "Plugin incompatible with this kiln" },
  KILN_PLUGIN_MALFORMED: { title: "Plugin package is malformed" },
  KILN_PLUGIN_TYPE_MISSING: { title: "Plugin does not provide this type" },
  KILN_PLUGIN_SPEC: {
    title: "Malformed plugin requirement",
    hint: 'Write `name: "<package>@<range>"`, e.g. `qemu: "@kiln/builder-qemu@^1"`.',
  },
  KILN_DURATION: { title: "Malformed duration", hint: "Write a number with a unit: 30s, 5m, 1h30m, 200ms." },
  KILN_USAGE: { title: "Command-line usage error" },
  KILN_NO_RUNS: { title: "--only / --except leave no run to build" },
  KILN_STALLED: { title: "The build stopped making progress (a plugin promise never settles)" },
  KILN_CLEANUP_FAILED: {
    title: "A cleanup failed: something the build made may be left behind",
    hint: "Check for and remove what that step creates (the log names it), then build again.",
  },
  KILN_PLUGIN_CRASH: { title: "Plugin code threw where nothing awaited it" },
  KILN_PLUGIN_EXIT: { title: "Plugin code tried to end the kiln process" },
  KILN_PLUGIN_NOT_PINNED: {
    title: "Plugin package not named in the build file",
    hint: "Name the package in the build file's plugins: map, or run `kiln init`, which looks it up and says what it installs.",
  },
  KILN_HTTP_UNAVAILABLE: { title: "http.* referred to where no HTTP server runs" },
  KILN_OUTPUT_CLOSED: { title: "kiln's output was closed while building" },
  KILN_INTERNAL: {
    title: "Internal error",
    hint: "This is a bug in kiln; please report it with the command you ran.",
  },
} as const satisfies Record<string, CatalogueEntry>;

export type ErrorCode = keyof typeof ERRORS;

export interface KilnErrorOptions {
  hint?: string;
  cause?: unknown;
  diagnostics?: Diagnostic[];
  /** Values that must not be shown when this error is printed (sensitive variables). */
  secrets?: string[];
}

/** An error with a stable code. `diagnostics` holds every problem when there are several. */
export class KilnError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  readonly diagnostics: Diagnostic[];
  readonly secrets: string[];
  readonly isKilnError = true;

  constructor(code: string, message: string, options: KilnErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "KilnError";
    this.code = code;
    this.hint = options.hint ?? (ERRORS as Record<string, CatalogueEntry>)[code]?.hint;
    this.diagnostics = options.diagnostics ?? [];
    this.secrets = options.secrets ?? [];
  }
}

/** True when `err` is a KilnError (from any copy of core), optionally with the given code. */
export function isKilnError(err: unknown, code?: string): err is KilnError {
  if (typeof err !== "object" || err === null) return false;
  const e = err as { isKilnError?: unknown; code?: unknown };
  return e.isKilnError === true && (code === undefined || e.code === code);
}

/** Build a diagnostic, filling the hint from the catalogue when none is given. */
export function diagnostic(
  code: ErrorCode | string,
  message: string,
  extra: Partial<Omit<Diagnostic, "code" | "message">> = {},
): Diagnostic {
  const hint = extra.hint ?? (ERRORS as Record<string, CatalogueEntry>)[code]?.hint;
  return {
    code,
    severity: extra.severity ?? "error",
    message,
    ...(hint !== undefined ? { hint } : {}),
    ...(extra.path !== undefined ? { path: extra.path } : {}),
    ...(extra.pos !== undefined ? { pos: extra.pos } : {}),
  };
}

/** Sort diagnostics by file, line, column; those without a position come first. */
export function sortDiagnostics(list: Diagnostic[]): Diagnostic[] {
  return [...list].sort((a, b) => {
    if (!a.pos || !b.pos) return a.pos ? 1 : b.pos ? -1 : 0;
    if (a.pos.file !== b.pos.file) return a.pos.file < b.pos.file ? -1 : 1;
    return a.pos.line - b.pos.line || a.pos.column - b.pos.column;
  });
}
