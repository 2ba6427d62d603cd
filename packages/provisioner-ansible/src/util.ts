/** Small helpers the two provisioners share. */
import { stat } from "node:fs/promises";
import { isAbsolute, resolve } from "node:path";
import type { ProvisionContext, RunContext } from "@kiln/core";
import { ansibleError, CODES } from "./errors.js";

/** A path from the options, relative to the build file's folder. */
export function resolveLocal(ctx: Pick<RunContext, "baseDir">, p: string): string {
  return isAbsolute(p) ? p : resolve(ctx.baseDir, p);
}

/** POSIX single-quote a word for the machine's shell. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** A local path from the options that must be a file (or a folder): a clear error otherwise. */
export async function mustExist(
  type: "ansible" | "ansible-local",
  ctx: Pick<ProvisionContext, "baseDir">,
  option: string,
  p: string,
  kind: "file" | "folder",
): Promise<string> {
  const abs = resolveLocal(ctx, p);
  let isDir: boolean;
  try {
    isDir = (await stat(abs)).isDirectory();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw ansibleError(
      type,
      CODES.options,
      `${option}: ${p} ${code === "ENOENT" ? "does not exist" : `cannot be read (${code})`}`,
      {
        hint: `Paths are relative to the folder of the build file (${ctx.baseDir}).`,
      },
    );
  }
  if (isDir !== (kind === "folder"))
    throw ansibleError(
      type,
      CODES.options,
      `${option}: ${p} is ${isDir ? "a folder" : "a file"}, not a ${kind}`,
    );
  return abs;
}
