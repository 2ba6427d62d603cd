/**
 * `kiln schema --write` and `kiln init`: write the editor schema of a build file beside it
 * (`.kiln/schema.json`, kiln's own folder) and make the file name it in its modeline, so
 * yaml-language-server (VS Code's YAML extension, Neovim, Helix, …) checks and completes the
 * file with the options of exactly the plugins it uses.
 */
import {
  accessSync,
  constants,
  mkdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { KilnError } from "@kiln/core";
import { schemaFor } from "./compose.js";
import { setModeline } from "./modeline.js";
import { PROJECT_SCHEMA } from "./url.js";

/** Write `text` to `file` through a temporary file in its folder, keeping its mode. */
function replaceFile(file: string, text: string): void {
  const real = realpathSync(file);
  const tmp = join(dirname(real), `.${basename(real)}.kiln-${process.pid}.tmp`);
  try {
    writeFileSync(tmp, text, { mode: statSync(real).mode & 0o7777 });
    renameSync(tmp, real);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

export interface WriteResult {
  /** Where the schema was written. */
  schemaFile: string;
  /** The types whose options it holds. */
  components: string[];
  /** What happened to the build file's modeline ("read-only": it needed one, but the file is not writable). */
  modeline: "added" | "replaced" | "unchanged" | "foreign" | "read-only";
  /** The schema the modeline named before, when it was replaced or kept. */
  previous?: string;
}

/** A file-system failure as a clear error (no stack trace): what could not be written, and why. */
function cannotWrite(what: string, err: unknown): KilnError {
  const code = (err as NodeJS.ErrnoException).code ?? String(err);
  return new KilnError("KILN_SCHEMA_WRITE", `cannot write ${what}: ${code}`, {
    cause: err,
    hint:
      code === "EACCES" || code === "EPERM" || code === "EROFS"
        ? "The folder is not writable here; print the schema instead: kiln schema FILE > schema.json"
        : code === "ENOTDIR" || code === "EEXIST"
          ? "Something that is not a folder is in the way (.kiln must be a folder)."
          : undefined,
  });
}

/** Write `<folder of file>/.kiln/schema.json` and point the file's modeline at it. */
export function writeProjectSchema(
  file: string,
  warn: (line: string) => void,
  opts: { replaceForeign?: boolean } = {},
): WriteResult {
  const { schema, components } = schemaFor(file, warn);
  const schemaFile = join(dirname(resolve(file)), PROJECT_SCHEMA);
  const tmp = `${schemaFile}.${process.pid}.tmp`;
  try {
    mkdirSync(dirname(schemaFile), { recursive: true });
    writeFileSync(tmp, `${JSON.stringify(schema, null, 2)}\n`);
    renameSync(tmp, schemaFile);
  } catch (err) {
    try {
      rmSync(tmp, { force: true });
    } catch {
      // nothing was written
    }
    throw cannotWrite(schemaFile, err);
  }
  const text = readFileSync(file, "utf8");
  const change = setModeline(text, PROJECT_SCHEMA, opts.replaceForeign === true);
  let modeline: WriteResult["modeline"] = change.kind;
  if (change.kind === "added" || change.kind === "replaced") {
    // A file made read-only (no write bit for anyone, which root would otherwise ignore) is left so.
    let writable = (statSync(file).mode & 0o222) !== 0;
    try {
      accessSync(file, constants.W_OK);
    } catch {
      writable = false;
    }
    if (!writable) modeline = "read-only";
    else {
      try {
        replaceFile(file, change.text);
      } catch (err) {
        throw cannotWrite(`the modeline into ${file}`, err);
      }
    }
  }
  return {
    schemaFile,
    components,
    modeline,
    ...("previous" in change ? { previous: change.previous } : {}),
  };
}

/** What `kiln schema --write` and `kiln init` print about it. */
export function describeWrite(file: string, r: WriteResult, shown: (p: string) => string): string[] {
  const out = [
    `Wrote ${shown(r.schemaFile)}: the editor schema with the options of ${r.components.length} type${r.components.length === 1 ? "" : "s"}.`,
  ];
  const line = `# yaml-language-server: $schema=${PROJECT_SCHEMA}`;
  if (r.modeline === "added") out.push(`Added \`${line}\` as the first line of ${file}.`);
  else if (r.modeline === "replaced") out.push(`${file} now names it (\`${line}\`; it named ${r.previous}).`);
  else if (r.modeline === "read-only")
    out.push(`${file} is read-only, so it was left as it is; for editors, make its first line: ${line}`);
  else if (r.modeline === "foreign")
    out.push(
      `${file} names another schema (${r.previous}); left as is. To use kiln's: kiln schema --write --force ${file}`,
    );
  return out;
}
