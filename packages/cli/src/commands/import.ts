/**
 * `kiln import PATH… [-o out.yaml] [--var-file x.pkrvars.hcl]… [--check] [--force]`: Packer
 * templates to a kiln build file. The importer (`@kiln/import`: web-tree-sitter and the HCL
 * grammar) is loaded only here, so no other command pays for it.
 */
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, relative } from "node:path";
import { formatDiagnostics } from "@kiln/core";
import { type CommandContext, EXIT } from "../context.js";
import { EDITOR_SCHEMA_URL } from "../schema/url.js";
import { redactor, resolverOptions } from "../shared.js";

const USAGE =
  "kiln import [-o out.yaml] [--var-file x.pkrvars.hcl]... [--check] [--force] <template or folder>...";
const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/** The temporary file being written, if any (removed when a signal ends the import). */
let writing: string | undefined;

function writeAtomically(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.kiln-import-${process.pid}.tmp`;
  writing = tmp;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
  writing = undefined;
}

export async function run(ctx: CommandContext): Promise<number> {
  const paths = ctx.positionals;
  if (paths.length === 0) {
    ctx.stderr.write(`no template given\nUsage: ${USAGE}\n`);
    return EXIT.INVALID;
  }
  const { importTemplates, formatReport, ImportError } = await import("@kiln/import");
  const check = ctx.values.check === true;
  const force = ctx.values.force === true;
  const out = ctx.values.output as string | undefined;
  let result: Awaited<ReturnType<typeof importTemplates>>;
  // Interrupted while it validates: its scratch folder goes, and nothing is written.
  let scratch: string | undefined;
  const stop = (signal: NodeJS.Signals) => {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
    if (writing) rmSync(writing, { force: true });
    ctx.stderr.write(`kiln import: interrupted (${signal})\n`);
    process.exit(EXIT.BUILD_FAILED);
  };
  for (const s of SIGNALS) process.once(s, stop);
  try {
    result = await importTemplates({
      onScratch: (dir) => {
        scratch = dir;
      },
      paths,
      schemaUrl: EDITOR_SCHEMA_URL,
      ...(out ? { out } : {}),
      varFiles: (ctx.values["var-file"] as string[] | undefined) ?? [],
      // Plugins are found as `kiln validate` finds them for a file in the output's folder.
      resolver: resolverOptions(out ? dirname(out) : process.cwd()),
    });
  } catch (err) {
    for (const s of SIGNALS) process.off(s, stop);
    if (err instanceof ImportError) {
      ctx.stderr.write(`kiln import: ${err.message}\n${err.extra.hint ? `  hint: ${err.extra.hint}\n` : ""}`);
      return EXIT.INVALID;
    }
    throw err;
  }
  try {
    // A signal that came while it worked is handled here, before anything is written.
    await new Promise((r) => setImmediate(r));
    return finish(ctx, result, check, force, formatReport);
  } finally {
    for (const s of SIGNALS) process.off(s, stop);
  }
}

function finish(
  ctx: CommandContext,
  result: Awaited<ReturnType<typeof import("@kiln/import").importTemplates>>,
  check: boolean,
  force: boolean,
  formatReport: typeof import("@kiln/import").formatReport,
): number {
  const show = (f: string) => relative(process.cwd(), f) || f;
  const targets = [result.out, ...result.varFiles.map((v) => v.out)];
  if (!check && !force) {
    const existing = targets.filter((f) => existsSync(f));
    if (existing.length) {
      ctx.stderr.write(
        `kiln import: ${existing.map(show).join(", ")} ${existing.length === 1 ? "exists" : "exist"}; nothing written\n  hint: Pass --force to overwrite, or -o to write elsewhere.\n`,
      );
      return EXIT.INVALID;
    }
  }
  if (result.report.length) ctx.stdout.write(`${formatReport(result.report)}\n`);
  const n = result.report.filter((r) => r.kind === "unsupported").length;
  const summary = `${result.inputs.length} file${result.inputs.length === 1 ? "" : "s"} read; ${n} item${n === 1 ? "" : "s"} without a kiln equivalent kept as comments`;
  if (!check) {
    writeAtomically(result.out, result.text);
    for (const v of result.varFiles) writeAtomically(v.out, v.text);
  }
  const written = check ? "not written (--check)" : `wrote ${targets.map(show).join(", ")}`;
  if (result.errors.length) {
    const redact = result.secrets.length ? redactor(result.secrets) : undefined;
    const text = formatDiagnostics(result.errors, {
      sources: { [result.out]: result.text },
      color: ctx.color,
      ...(redact ? { redact } : {}),
    });
    ctx.stderr.write(
      `${text}\n\n${summary}; ${written}; it does not validate: ${result.errors.length} problem${result.errors.length === 1 ? "" : "s"} found.\n`,
    );
    return EXIT.INVALID;
  }
  ctx.stdout.write(`${summary}; ${written}; it validates.\n`);
  return EXIT.OK;
}
