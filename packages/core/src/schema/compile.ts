/**
 * Compiled validators, cached on disk. Compiling a JSON Schema with ajv costs tens of
 * milliseconds per schema on every start; the generated code (ajv's standalone output) is kept
 * under the user's cache folder by a hash of the schema, so later runs load it without loading
 * ajv's compiler at all. A missing or unreadable cache only costs the compile.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { homedir } from "node:os";
import { join } from "node:path";
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

function load(code: string): ValidateFunction | undefined {
  const mod: { exports: { default?: ValidateFunction } & Partial<ValidateFunction> } = { exports: {} };
  // ajv's own compiler turns generated code into functions the same way.
  new Function("require", "module", "exports", code)(require, mod, mod.exports);
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
  let fn: ValidateFunction | undefined;
  if (process.env.KILN_NO_VALIDATOR_CACHE !== "1") {
    try {
      fn = load(readFileSync(file, "utf8"));
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
