/**
 * Compiled validators, cached on disk. Compiling a JSON Schema with ajv costs tens of
 * milliseconds per schema on every start; the generated code (ajv's standalone output) is kept
 * under the user's cache folder by a hash of the schema, so later runs load it without loading
 * ajv's compiler at all. V8's compiled form of that code (its code cache, some 100 KB of
 * JavaScript for a builder's options) is kept beside it too, per Node version: V8 refuses data
 * from another V8 or other flags, and then it is written again. A missing or unreadable cache
 * only costs the compile.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { homedir } from "node:os";
import { join } from "node:path";
import { Script } from "node:vm";
import type { ValidateFunction } from "ajv";
import type { JsonSchema } from "./base.js";

const require = createRequire(import.meta.url);
const memo = new WeakMap<object, ValidateFunction>();
/** Bump when the ajv options below change, so old cache entries are not reused. */
const CACHE_TAG = "kiln-validator-v1";
const AJV_OPTIONS = {
  allErrors: true,
  strict: false,
  allowUnionTypes: true,
  code: { source: true, lines: false },
} as const;

/** Where compiled validators are kept: $KILN_CACHE_DIR, $XDG_CACHE_HOME/kiln or ~/.cache/kiln. */
export function cacheDir(): string {
  const env = process.env;
  if (env.KILN_CACHE_DIR) return env.KILN_CACHE_DIR;
  return join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "kiln");
}

let ajvVersion: string | undefined;
function versionOfAjv(): string {
  ajvVersion ??= String(JSON.parse(readFileSync(require.resolve("ajv/package.json"), "utf8")).version);
  return ajvVersion;
}

/** V8 code caches to write when the process ends (after the validators ran, so their functions are in them). */
const pendingCodeCaches = new Map<string, Script>();
let writeOnExit = false;

function writeCodeCaches(): void {
  for (const [file, script] of pendingCodeCaches) {
    try {
      const tmp = `${file}.${process.pid}.tmp`;
      writeFileSync(tmp, script.createCachedData());
      renameSync(tmp, file);
    } catch {
      // no code cache this time
    }
  }
  pendingCodeCaches.clear();
}

/** Evaluate ajv's standalone code (a CommonJS module) as ajv's own compiler would, with V8's code cache at `v8File`. */
function load(code: string, v8File?: string): ValidateFunction | undefined {
  const mod: { exports: { default?: ValidateFunction } & Partial<ValidateFunction> } = { exports: {} };
  let cachedData: Buffer | undefined;
  if (v8File) {
    try {
      cachedData = readFileSync(v8File);
    } catch {
      cachedData = undefined;
    }
  }
  const script = new Script(`(function (require, module, exports) {${code}\n})`, {
    filename: "kiln-validator.cjs",
    ...(cachedData ? { cachedData } : {}),
  });
  (script.runInThisContext() as (r: NodeRequire, m: typeof mod, e: typeof mod.exports) => void)(
    require,
    mod,
    mod.exports,
  );
  if (v8File && (!cachedData || script.cachedDataRejected)) {
    pendingCodeCaches.set(v8File, script);
    if (!writeOnExit) {
      writeOnExit = true;
      process.once("exit", writeCodeCaches);
    }
  }
  const fn = (mod.exports.default ?? mod.exports) as ValidateFunction;
  return typeof fn === "function" ? fn : undefined;
}

/** A validator for `schema`, compiled once per process and cached on disk between processes. */
export function compileSchema(schema: JsonSchema): ValidateFunction {
  const known = memo.get(schema);
  if (known) return known;
  const text = JSON.stringify(schema);
  const key = createHash("sha256")
    .update(`${CACHE_TAG}\0${versionOfAjv()}\0${text}`)
    .digest("hex")
    .slice(0, 40);
  const dir = join(cacheDir(), "validators");
  const file = join(dir, `${key}.cjs`);
  const v8File = join(dir, `${key}.${process.version}-${process.arch}.v8`);
  let fn: ValidateFunction | undefined;
  if (process.env.KILN_NO_VALIDATOR_CACHE !== "1") {
    try {
      fn = load(readFileSync(file, "utf8"), v8File);
    } catch {
      fn = undefined;
    }
  }
  if (!fn) {
    const { Ajv } = require("ajv") as typeof import("ajv");
    const standaloneCode = (
      require("ajv/dist/standalone") as { default: (ajv: unknown, fn: unknown) => string }
    ).default;
    const ajv = new Ajv(AJV_OPTIONS);
    const compiled = ajv.compile(schema);
    fn = compiled;
    try {
      const code = standaloneCode(ajv, compiled);
      mkdirSync(dir, { recursive: true });
      const tmp = `${file}.${process.pid}.tmp`;
      writeFileSync(tmp, code);
      renameSync(tmp, file);
    } catch {
      // no cache this time
    }
  }
  memo.set(schema, fn);
  return fn;
}
