/** The build file's structure: the `kiln: 1` header, the base schema, the plugins: map's ranges. */
import validRange from "semver/ranges/valid.js";
import { type Diagnostic, diagnostic } from "../errors.js";
import { parsePackageSpec } from "../plugins/resolve.js";
import { baseSchema } from "../schema/base.js";
import { validateValue } from "../schema/validate.js";
import { loadYamlFile, type PathSegment, positionOf, type SourceFile } from "./parse.js";
import { throwIfErrors } from "./problems.js";
import type { VariableDecl } from "./variables.js";

export interface RawFile {
  kiln?: unknown;
  plugins?: Record<string, string>;
  variables?: Record<string, VariableDecl>;
  locals?: Record<string, unknown>;
  data?: Record<string, Record<string, unknown>>;
  sources?: Record<string, Record<string, unknown>>;
  builds?: Array<Record<string, unknown>>;
}

/** A parsed build file and the problems its structure has. */
export interface Structure {
  src: SourceFile;
  raw: RawFile;
  diags: Diagnostic[];
}

/**
 * A key of a provisioner or post-processor (`max_retries`, `pause_before`, `only` …) whose value
 * is written as an expression: its value is checked once evaluated, with the component's options.
 */
function evaluatedLater(raw: RawFile, path: readonly PathSegment[]): boolean {
  const [top, , list] = path;
  if (
    top !== "builds" ||
    !["provisioners", "post-processors", "error-cleanup-provisioner"].includes(String(list))
  )
    return false;
  let v: unknown = raw;
  for (const seg of path)
    v = v !== null && typeof v === "object" ? (v as Record<string, unknown>)[seg] : undefined;
  return typeof v === "string" && v.includes("${{");
}

/** Parse a build file and check its structure only. */
export function loadStructure(file: string): Structure {
  return checkStructure(loadYamlFile(file));
}

/** Check the structure of a file already parsed (so a command reads and parses it once). */
export function checkStructure(src: SourceFile): Structure {
  const diags: Diagnostic[] = [];
  const raw = src.value as RawFile;
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    diags.push(
      diagnostic("KILN_SCHEMA_TYPE", "a build file is a map of keys (kiln, variables, sources, builds, …)", {
        pos: positionOf(src, []),
        hint: "Start the file with `kiln: 1`, then `sources:` and `builds:`.",
      }),
    );
    throwIfErrors(diags, src.file);
  }
  if (!("kiln" in raw)) {
    diags.push(
      diagnostic("KILN_HEADER", "the file has no `kiln: 1` header", {
        path: "kiln",
        pos: { file: src.file, line: 1, column: 1 },
      }),
    );
  } else if (raw.kiln !== 1) {
    diags.push(
      diagnostic(
        "KILN_HEADER",
        typeof raw.kiln === "string" && Number(raw.kiln) === 1
          ? `the format version is the text ${JSON.stringify(raw.kiln)}; it must be the number 1, without quotes`
          : `format version ${JSON.stringify(raw.kiln)} is not supported; this kiln reads version 1`,
        { path: "kiln", pos: positionOf(src, ["kiln"]), hint: "Write `kiln: 1`." },
      ),
    );
  }
  const schemaDiags = validateValue(baseSchema(), raw, src, {
    what: "top-level key",
    deferred: (p) => evaluatedLater(raw, p),
  }).filter(
    (d) =>
      !(d.path === "kiln" && d.code !== "KILN_SCHEMA_UNKNOWN_KEY") &&
      !(d.code === "KILN_SCHEMA_REQUIRED" && d.message.includes('"kiln"') && d.path === ""),
  );
  diags.push(...schemaDiags);
  const pluginMap =
    raw.plugins !== null && typeof raw.plugins === "object" && !Array.isArray(raw.plugins) ? raw.plugins : {};
  for (const [name, spec] of Object.entries(pluginMap)) {
    if (typeof spec !== "string") continue;
    const { range } = parsePackageSpec(spec);
    if (range !== undefined && validRange(range) === null) {
      diags.push(
        diagnostic("KILN_PLUGIN_SPEC", `"${range}" is not a semver range`, {
          path: `plugins.${name}`,
          pos: positionOf(src, ["plugins", name]),
        }),
      );
    }
  }
  return { src, raw, diags };
}
