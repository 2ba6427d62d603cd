/**
 * The one way a RunContext is made: by the engine for each run, by the conformance kit and by
 * tests. It owns the run's state bag, build vars, temp folders and its expression scope, so
 * every context renders `${{ build.* }}` / `${{ http.* }}` the same way: `ctx.render` evaluates
 * the loader's `Deferred` markers (once, in the run's scope) and leaves every other value as it is.
 */

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KilnError } from "../errors.js";
import { DEFERRED, evaluateTracked, isDeferred, references, type Scope } from "../expr/index.js";
import { coreVersion } from "../plugins/version.js";
import { MIN_DERIVED_SECRET, secretStrings } from "../util/secret-strings.js";
import { StateBag } from "./state.js";
import type { BuildVars, RunContext, RunInfo, Ui } from "./types.js";

export interface RunContextInit {
  run: RunInfo;
  ui: Ui;
  /** Aborts the run; default: a signal that never aborts. */
  signal?: AbortSignal;
  /** The build file's folder. */
  baseDir: string;
  force?: boolean;
  /** Where ctx.secret() registers a value (the event bus's secret registry). */
  secret?: (value: string) => void;
  /** What ctx.redact() does (the event bus's secret registry); default: nothing is redacted. */
  redact?: (text: string) => string;
  /** build.* values to start from; PackerRunUUID, BuildName, SourceName, BuilderType and ID are filled in. */
  buildVars?: BuildVars;
  /** What `var.*`, `local.*` and `env.*` mean in build-time expressions. */
  variables?: Record<string, unknown>;
  locals?: Record<string, unknown>;
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** What the build's data sources returned, by name: `data.<name>.*` (until given, `data` waits). */
  data?: Record<string, Record<string, unknown>>;
}

export interface OwnedRunContext {
  ctx: RunContext;
  /** Remove the temp folders made through ctx.tempDir(); call once the run has ended, however. */
  dispose(): Promise<void>;
  /**
   * `value` with the markers evaluated that need nothing of the run (`data.*`, `source.*` …), so
   * a builder's options hold the data sources' values before prepare; markers that read
   * `build.*` / `http.*` stay for ctx.render.
   */
  resolveKnown<T>(value: T): T;
}

/** Roots whose values exist only once a run is under way. */
const RUN_ROOTS = new Set(["build", "http"]);

export function createRunContext(init: RunContextInit): OwnedRunContext {
  const { run } = init;
  const temps: string[] = [];
  const buildVars: BuildVars = {
    PackerRunUUID: run.runUuid,
    BuildName: run.build,
    SourceName: run.source,
    BuilderType: run.type,
    ID: "",
    ...(init.buildVars ?? {}),
  };
  const variables = init.variables ?? {};
  const locals = init.locals ?? {};
  const env = Object.fromEntries(
    Object.entries(init.env ?? process.env).filter((e): e is [string, string] => e[1] !== undefined),
  );
  // Before the run (resolveKnown), build.* / http.* are roots still to come, so an expression
  // reaching them — directly, or through a local computed from them — stays a marker.
  const scope = (beforeRun = false): Scope => ({
    values: {
      var: variables,
      local: locals,
      env,
      path: { root: init.baseDir, cwd: init.cwd ?? process.cwd() },
      kiln: { version: coreVersion() },
      source: { name: run.source, type: run.type },
      ...(beforeRun
        ? {}
        : {
            build: { ...buildVars },
            http: {
              ip: buildVars.PackerHTTPIP ?? "",
              port: buildVars.PackerHTTPPort ?? "",
              addr: buildVars.PackerHTTPAddr ?? "",
            },
          }),
      ...(init.data ? { data: init.data } : {}),
    },
    deferred: new Set([...(init.data ? [] : ["data"]), ...(beforeRun ? RUN_ROOTS : [])]),
    members: {
      var: new Set(Object.keys(variables)),
      local: new Set(Object.keys(locals)),
      ...(init.data ? { data: new Set(Object.keys(init.data)) } : {}),
    },
    resolveDeferred: true,
    baseDir: init.baseDir,
  });
  const secret = init.secret ?? (() => {});
  const redact = init.redact ?? ((text: string) => text);
  // Only the loader's build-time markers are evaluated; a plain string is data, whatever it holds.
  const walk = (v: unknown, onlyKnown = false): unknown => {
    if (isDeferred(v) && onlyKnown && references(v.template).some((r) => RUN_ROOTS.has(r.root))) return v;
    if (isDeferred(v)) {
      const out = evaluateTracked(v.template, scope(onlyKnown));
      if (out.value === DEFERRED && onlyKnown) return v;
      if (out.value === DEFERRED)
        throw new KilnError(
          "KILN_EXPR_EVAL",
          `"${v.source}" needs values that are not available while building`,
        );
      // A value holding a registered secret verbatim is redacted where it stands; one computed
      // from a secret (upper, base64 …) is registered whole.
      if (v.sensitive || out.sensitive)
        for (const s of secretStrings(out.value, MIN_DERIVED_SECRET)) if (redact(s) === s) secret(s);
      return out.value;
    }
    if (Array.isArray(v)) return v.map((x) => walk(x, onlyKnown));
    if (v && typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype) {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, onlyKnown)]));
    }
    return v;
  };
  const ctx: RunContext = {
    run,
    state: new StateBag(),
    ui: init.ui,
    signal: init.signal ?? new AbortController().signal,
    buildVars,
    secret,
    redact,
    render: <T>(value: T): T => walk(value) as T,
    baseDir: init.baseDir,
    force: init.force === true,
    tempDir: async (prefix = "kiln-") => {
      const d = await mkdtemp(join(tmpdir(), prefix));
      temps.push(d);
      return d;
    },
  };
  return {
    ctx,
    resolveKnown: <T>(value: T): T => walk(value, true) as T,
    dispose: async () => {
      await Promise.all(temps.splice(0).map((d) => rm(d, { recursive: true, force: true })));
    },
  };
}
