/** What loading takes and what it gives: the options, and the loaded file with its components. */
import type { Diagnostic } from "../errors.js";
import type { ResolvedComponent, ResolverOptions } from "../plugins/resolve.js";
import type { Kind } from "../schema/base.js";
import type { PathSegment, SourceFile } from "./parse.js";
import type { Structure } from "./structure.js";
import type { VariableInputs, VariableValue } from "./variables.js";

export interface LoadOptions extends VariableInputs {
  /** Path of the build file. */
  file: string;
  /**
   * The file already parsed and checked by `loadStructure` (e.g. by a command that looked at
   * its plugins first): then it is not read and parsed again.
   */
  structure?: Structure;
  /** Only YAML syntax and the file's structure: no plugins, no variables. */
  syntaxOnly?: boolean;
  /** Fail when a variable has no value (true for build, validate). Default true. */
  requireValues?: boolean;
  /** Where plugins are looked for besides the file's folder, and the standard set. */
  resolver?: Omit<ResolverOptions, "fromDir" | "plugins">;
  /** Working directory for path.cwd; default process.cwd(). */
  cwd?: string;
}

export interface LoadedComponent {
  kind: Kind;
  type: string;
  /** Where it is in the file, e.g. ["builds", 0, "provisioners", 1]. */
  path: PathSegment[];
  /**
   * Options with expressions evaluated: plain data, with a `Deferred` marker (printed as the
   * string as written) in place of each string that needs build-time values.
   */
  options: Record<string, unknown>;
  deferred: PathSegment[][];
  plugin?: ResolvedComponent;
}

export interface LoadedSource extends LoadedComponent {
  name: string;
  /** For a per-build variant: the source it starts from. */
  base?: string;
}

export interface LoadedBuild {
  name: string;
  index: number;
  description?: string;
  /** The runs' source names, in order (a per-build variant's `name:`, or its source's). */
  sources: string[];
  /** Per-build variants of sources (a map in `sources:`), by run source name. */
  variants?: Record<string, LoadedSource>;
  provisioners: LoadedComponent[];
  errorCleanupProvisioner?: LoadedComponent;
  /** Each entry is a chain; a single post-processor is a chain of one. */
  postProcessors: LoadedComponent[][];
}

export interface LoadedBuildFile {
  file: string;
  dir: string;
  src: SourceFile;
  variables: Record<string, VariableValue>;
  /** Locals, evaluated; a local needing build-time values is a `Deferred` marker. */
  locals: Record<string, unknown>;
  /** Names of the locals computed from a sensitive value: `inspect` shows them masked. */
  sensitiveLocals: string[];
  sources: Record<string, LoadedSource>;
  data: Record<string, LoadedComponent>;
  builds: LoadedBuild[];
  /** Every distinct plugin component the file uses. */
  plugins: ResolvedComponent[];
  /** Values to redact from all output: sensitive variables' values and the values computed from them. */
  secrets: string[];
  warnings: Diagnostic[];
}
