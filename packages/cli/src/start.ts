/**
 * Starting the CLI fast. The `kiln` command is one bundled file (bundle/kiln.cjs, made by
 * scripts/bundle.mjs from dist/ with @kiln/core and the small libraries inlined), so a cold start
 * reads one file instead of some 250 modules. Its compiled code is kept between runs: by Node's
 * own compile cache where Node has one (>= 22.1, `module.enableCompileCache`), else by V8's code
 * cache through node:vm (`cachedData`), in kiln's cache folder beside the compiled validators.
 * The cache is keyed by Node's version and architecture and the bundle's size and time; V8
 * refuses data from another V8 or other flags (then the file is rewritten). Any failure to read
 * or write it only costs the compile.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import module, { createRequire } from "node:module";
import { homedir } from "node:os";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import vm from "node:vm";

/** What the bundle exports: the CLI's entry point. */
export interface CliModule {
  main(argv: string[]): Promise<number>;
}

/** kiln's cache folder, as @kiln/core's cacheDir() (a test checks they agree). */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.KILN_CACHE_DIR) return env.KILN_CACHE_DIR;
  return join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "kiln");
}

/** What happened to the code cache this run (for tests: KILN_DEBUG_COMPILE_CACHE=1 prints it). */
export type CacheOutcome = "node" | "accepted" | "written" | "rejected" | "off" | "unavailable";

/** Load the bundle at `file`, with its compiled code cached between runs. */
export function loadBundle(file: string, env: NodeJS.ProcessEnv = process.env): CliModule {
  const report = (o: CacheOutcome) => {
    if (env.KILN_DEBUG_COMPILE_CACHE === "1") process.stderr.write(`kiln: compile cache: ${o}\n`);
  };
  if (env.KILN_NO_COMPILE_CACHE === "1") {
    report("off");
    return createRequire(import.meta.url)(file) as CliModule;
  }
  const nodeCache = (module as { enableCompileCache?: (dir?: string) => unknown }).enableCompileCache;
  if (typeof nodeCache === "function") {
    nodeCache(join(cacheDir(env), "node-compile-cache"));
    report("node");
    return createRequire(import.meta.url)(file) as CliModule;
  }
  // ASCII (scripts/bundle.mjs checks): Latin-1 reads it without decoding UTF-8.
  const code = readFileSync(file, "latin1");
  const st = statSync(file);
  const dir = join(cacheDir(env), "compile");
  const prefix = `${basename(file)}-`;
  const cacheFile = join(
    dir,
    `${prefix}${process.version}-${process.arch}-${st.size}-${Math.trunc(st.mtimeMs)}.v8`,
  );
  let cachedData: Buffer | undefined;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    cachedData = undefined;
  }
  // The CommonJS wrapper Node itself puts around a module, and the bundle's way to import plugin
  // modules: Node forgets a script's dynamic-import loader when the script comes from cached
  // data, so the bundle's import() calls go through this function (scripts/bundle.mjs).
  const script = new vm.Script(
    `(function (exports, require, module, __filename, __dirname, __kilnHostImport) {${code}\n})`,
    {
      filename: file,
      ...(cachedData ? { cachedData } : {}),
      // plugins are ES modules, imported by path: the main context's loader takes them
      importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
    },
  );
  const mod = { exports: {} as CliModule };
  const wrapper = script.runInThisContext() as (
    exports: unknown,
    require: NodeJS.Require,
    module: unknown,
    filename: string,
    dirname: string,
    hostImport: (specifier: string) => Promise<unknown>,
  ) => void;
  const hostImport = (specifier: string) => import(specifier);
  wrapper.call(mod.exports, mod.exports, createRequire(file), mod, file, dirname(file), hostImport);
  if (cachedData && !script.cachedDataRejected) {
    report("accepted");
    return mod.exports;
  }
  // Written when the process ends, so that the functions this run compiled are in it too.
  process.once("exit", () => {
    try {
      const data = script.createCachedData();
      mkdirSync(dir, { recursive: true });
      for (const old of readdirSync(dir)) if (old.startsWith(prefix)) rmSync(join(dir, old), { force: true });
      const tmp = `${cacheFile}.${process.pid}.tmp`;
      writeFileSync(tmp, data);
      renameSync(tmp, cacheFile);
      report(cachedData ? "rejected" : "written");
    } catch {
      report("unavailable");
    }
  });
  return mod.exports;
}

/** The bundle beside this package's dist/. */
export function bundlePath(): string {
  return fileURLToPath(new URL("../bundle/kiln.cjs", import.meta.url));
}
