/** Helpers shared by the post-processors. */
import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { access, mkdir, rm, rmdir, stat } from "node:fs/promises";
import { basename, delimiter, dirname, isAbsolute, join, resolve } from "node:path";
import { KilnError, messageOf } from "@kiln/core";
import type { RunContext } from "./types.js";

export { abortError, formatBytes, messageOf, throwIfAborted } from "@kiln/core";

/** Error codes the post-processors raise (candidates for core's catalogue). */
export const CODES = {
  /** An option value that the schema accepts but that cannot work. */
  options: "KILN_POST_PROCESSOR_OPTIONS",
  /** The input artifact cannot be processed (missing file, wrong number of files …). */
  input: "KILN_POST_PROCESSOR_INPUT",
  /** Reading, writing or running something failed. */
  failed: "KILN_POST_PROCESSOR_FAILED",
  /** An output exists and --force was not given. */
  exists: "KILN_OUTPUT_EXISTS",
  /** A program the post-processor needs is not on PATH. */
  toolMissing: "KILN_TOOL_MISSING",
  /** A lock could not be taken in time. */
  lock: "KILN_LOCK_TIMEOUT",
  /** A local script exited with a code that is not allowed. */
  exitCode: "KILN_SCRIPT_EXIT_CODE",
} as const;

/** A KilnError whose message starts with `[type] `. */
export function ppError(
  type: string,
  code: string,
  message: string,
  extra: { hint?: string; cause?: unknown } = {},
): KilnError {
  return new KilnError(code, `[${type}] ${message}`, {
    ...(extra.hint !== undefined ? { hint: extra.hint } : {}),
    ...(extra.cause !== undefined ? { cause: extra.cause } : {}),
  });
}

/** A path from the options, relative to the build file's folder. */
export function resolvePath(ctx: Pick<RunContext, "baseDir">, p: string): string {
  return isAbsolute(p) ? p : resolve(ctx.baseDir, p);
}

export async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

/** A hidden temporary name beside `target`, so that rename() into place is atomic. */
export function tempNameFor(target: string): string {
  return join(
    dirname(target),
    `.${basename(target)}.kiln-${process.pid}-${randomBytes(4).toString("hex")}.tmp`,
  );
}

export async function removeQuietly(p: string | undefined): Promise<void> {
  if (p) await rm(p, { force: true, recursive: true }).catch(() => {});
}

/** Packer's BuildName: the source's name (what HCL2 Packer sets as packer_build_name). */
export function packerBuildName(ctx: Pick<RunContext, "run">): string {
  return ctx.run.source;
}

/** Packer's BuilderType. */
export function packerBuilderType(ctx: Pick<RunContext, "run">): string {
  return ctx.run.type;
}

/**
 * Render Packer's Go-template fields (`{{.BuildName}}`, `{{ .ChecksumType }}`) in an output
 * name. Only plain `{{.Field}}` references are supported; the build file's own expressions
 * (`${{ … }}`) have already been evaluated by the engine.
 */
export function renderFields(
  type: string,
  option: string,
  template: string,
  fields: Record<string, unknown>,
): string {
  return template.replace(/\{\{-?\s*(.*?)\s*-?\}\}/g, (whole, inner: string, offset: number) => {
    if (offset > 0 && template[offset - 1] === "$") return whole;
    const m = /^\.([A-Za-z_][A-Za-z0-9_]*)$/.exec(inner);
    if (!m) {
      throw ppError(
        type,
        CODES.options,
        `${option}: "${whole}" is not supported; only fields such as {{.BuildName}} are`,
        {
          hint: "Use a kiln expression instead, e.g. ${{ timestamp() }}.",
        },
      );
    }
    const name = m[1] as string;
    const value = fields[name];
    if (value === undefined || value === null) {
      const known = Object.keys(fields)
        .filter((k) => fields[k] !== undefined && fields[k] !== null)
        .sort();
      throw ppError(type, CODES.options, `${option}: unknown field {{.${name}}}`, {
        hint: `Known fields: ${known.join(", ")}.`,
      });
    }
    return String(value);
  });
}

/** Template fields every post-processor offers: the build vars plus Packer's names. */
export function templateFields(ctx: Pick<RunContext, "run" | "buildVars">): Record<string, unknown> {
  return {
    ...ctx.buildVars,
    BuildName: packerBuildName(ctx),
    BuilderType: packerBuilderType(ctx),
    SourceName: ctx.run.source,
    PackerRunUUID: ctx.run.runUuid,
  };
}

/** The full path of an executable found on PATH, or undefined. */
export async function which(
  program: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string | undefined> {
  const dirs = (env.PATH ?? "").split(delimiter).filter(Boolean);
  const exts = process.platform === "win32" ? (env.PATHEXT ?? ".EXE;.CMD;.BAT").split(";") : [""];
  for (const d of dirs) {
    for (const e of exts) {
      const candidate = join(d, program + e);
      try {
        await access(candidate, constants.X_OK);
        const s = await stat(candidate);
        if (s.isFile()) return candidate;
      } catch {
        // not here
      }
    }
  }
  return undefined;
}

/**
 * mkdir -p that reports what it made; the returned function removes those folders again (only
 * while they are empty), for cleanup after a failure. A folder that cannot be made is a
 * `[type] …` error naming it.
 */
export async function makeDirs(type: string, dir: string): Promise<() => Promise<void>> {
  let first: string | undefined;
  try {
    first = await mkdir(dir, { recursive: true });
  } catch (err) {
    throw ppError(type, CODES.failed, `cannot create the folder ${dir}: ${messageOf(err)}`, { cause: err });
  }
  return async () => {
    if (!first) return;
    for (let d = dir; d.length >= first.length; d = dirname(d)) {
      try {
        await rmdir(d);
      } catch {
        return;
      }
      if (d === first) return;
    }
  };
}
