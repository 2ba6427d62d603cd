/** What the commands share: loading a file with the CLI's plugin search path, and reporting problems. */
import { dirname, resolve } from "node:path";
import {
  type Diagnostic,
  formatDiagnostics,
  isKilnError,
  type LoadedBuildFile,
  type LoadOptions,
  loadBuildFile,
  readYamlBytes,
  redactKeeping,
  redactWords,
  SecretRegistry,
  type SourceFile,
} from "@kiln/core";
import { buildFileOf } from "./build-file.js";
import { type CommandContext, EXIT } from "./context.js";
import { pluginFolder } from "./install/lock.js";
import { CLI_DIR } from "./own.js";
import { STANDARD_PLUGINS } from "./standard.js";

export { CLI_DIR };

/**
 * Where plugins are looked for besides the build file's folder (and its parents): the project
 * plugin folder that `kiln init` fills (`<project>/.kiln/plugins`), then the CLI's own install.
 */
export function resolverOptions(projectDir: string = process.cwd()) {
  return { searchDirs: [pluginFolder(projectDir), CLI_DIR], standard: STANDARD_PLUGINS };
}

/**
 * The build file a command was given: the one operand, a file or a folder (its kiln.yaml or
 * only *.kiln.yaml). Prints a usage error and returns undefined when there is none.
 */
export function fileArg(ctx: CommandContext, command: string): string | undefined {
  const usage = ctx.usage;
  const [given, ...extra] = ctx.positionals;
  if (!given || extra.length > 0) {
    ctx.stderr.write(
      `kiln ${command}: ${given ? `unexpected argument "${extra[0]}"` : `no build file given (a file, or a folder: kiln ${command} .)`}\nUsage: ${usage}\n`,
    );
    return undefined;
  }
  const found = buildFileOf(given);
  if ("error" in found) {
    ctx.stderr.write(`kiln ${command}: ${found.error}\n`);
    return undefined;
  }
  if (found.file !== given) ctx.debug.write(`build file: ${found.file}`);
  return found.file;
}

/** Load `file` with the command's --var and --var-file; pass `structure` when it is parsed already. */
export function loadFromArgs(
  ctx: CommandContext,
  file: string,
  extra: Partial<LoadOptions> = {},
): LoadedBuildFile {
  const loaded = loadBuildFile({
    file,
    vars: (ctx.values.var as string[] | undefined) ?? [],
    varFiles: (ctx.values["var-file"] as string[] | undefined) ?? [],
    resolver: resolverOptions(dirname(resolve(file))),
    ...extra,
  });
  printWarnings(ctx, loaded.warnings, loaded.secrets, extra.structure?.src ?? loaded.src);
  return loaded;
}

/** Warnings (a variables file setting an undeclared variable …) on stderr, with their places. */
export function printWarnings(
  ctx: CommandContext,
  warnings: readonly Diagnostic[],
  secrets: readonly string[],
  known?: SourceFile,
): void {
  if (warnings.length === 0) return;
  const redact = secrets.length ? redactor(secrets) : undefined;
  const text = formatDiagnostics([...warnings], {
    sources: readSources([...warnings], known),
    color: ctx.color,
    ...(redact
      ? {
          redact,
          redactWords: (t: string) => redactWords(t, redact, secrets),
          keepPaths: pathKeeper(redact, secrets, warnings, known?.file),
        }
      : {}),
  });
  ctx.stderr.write(`${text}\n`);
}

function readSources(diags: Diagnostic[], known?: SourceFile): Record<string, string> {
  // The file the command parsed is not read again.
  const out: Record<string, string> = known ? { [known.file]: known.text } : {};
  for (const d of diags) {
    const f = d.pos?.file;
    if (!f || f in out) continue;
    try {
      // Regular files only, size-limited: never a FIFO that would hang or a device that never ends.
      out[f] = new TextDecoder().decode(readYamlBytes(f));
    } catch {
      // no code frame for this file
    }
  }
  return out;
}

/**
 * Print a KilnError's diagnostics (or message) and return the exit code; rethrow anything else.
 * `known` is the file the command parsed: its code frames come from it.
 */
export function report(ctx: CommandContext, err: unknown, known?: SourceFile): number {
  if (!isKilnError(err)) throw err;
  const redact = err.secrets.length ? redactor(err.secrets) : undefined;
  const words = redact ? (t: string) => redactWords(t, redact, err.secrets) : undefined;
  const diags: Diagnostic[] = err.diagnostics.length
    ? err.diagnostics
    : [{ code: err.code, severity: "error", message: err.message, ...(err.hint ? { hint: err.hint } : {}) }];
  const text = formatDiagnostics(diags, {
    sources: readSources(diags, known),
    color: ctx.color,
    ...(redact && words
      ? { redact, redactWords: words, keepPaths: pathKeeper(redact, err.secrets, diags, known?.file) }
      : {}),
  });
  const n = diags.filter((d) => d.severity === "error").length;
  ctx.stderr.write(`${text}\n\n${n} problem${n === 1 ? "" : "s"} found.\n`);
  return err.code === "KILN_INTERNAL" ? EXIT.INTERNAL : EXIT.INVALID;
}

/** A message redactor that keeps the files the diagnostics name (kiln's words) whole. */
function pathKeeper(
  redact: (t: string) => string,
  secrets: readonly string[],
  diags: readonly Diagnostic[],
  also?: string,
): (file: string | undefined) => (t: string) => string {
  const files = [...new Set([...diags.map((d) => d.pos?.file), also].filter((f): f is string => !!f))].sort(
    (a, b) => b.length - a.length,
  );
  void secrets;
  return () => (t) => redactKeeping(t, redact, files);
}

/**
 * Replace each secret with <sensitive>, in every form the secrets registry knows (quoted,
 * JSON- and shell-escaped, URL-encoded, base64, each line of a multi-line secret …).
 */
export function redactor(secrets: readonly string[]): (s: string) => string {
  const registry = new SecretRegistry();
  for (const secret of secrets) registry.add(secret);
  return (s) => registry.redact(s);
}
