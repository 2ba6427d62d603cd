/**
 * Running a testbed image's build script (the appliance's, the Debian image's): its progress
 * (stderr) line by line to `log`, its result as `key=value` lines on stdout, each build once per
 * process for the same cache (build.sh serialises across processes itself, with flock).
 */
import { spawn } from "node:child_process";

export interface BuildScriptOptions {
  /** Rebuild even if a cached result exists. */
  force?: boolean;
  /** Receives the script's progress output (stderr), line by line. */
  log?: (line: string) => void;
}

export interface BuildScript {
  /** The script, e.g. `testbed/appliance/build.sh`. */
  script: string;
  cwd: string;
  /** For messages: "appliance build.sh". */
  label: string;
  /** Extra environment for the script. */
  env?: NodeJS.ProcessEnv;
  /** What names the cache (an environment override of its folder), so builds for one cache are shared. */
  cacheKey?: string;
}

const pending = new Map<string, Promise<Map<string, string>>>();

/** The script's `key=value` results; a build already under way for the same cache is shared. */
export function runBuildScript(
  s: BuildScript,
  options: BuildScriptOptions = {},
): Promise<Map<string, string>> {
  const key = `${s.script}|${s.cacheKey ?? ""}|${options.force ? "force" : ""}`;
  let p = pending.get(key);
  if (!p) {
    p = run(s, options);
    pending.set(key, p);
    p.catch(() => pending.delete(key));
  }
  return p;
}

/** A required result of the script, or an error showing what it printed. */
export function resultOf(results: Map<string, string>, key: string, label: string): string {
  const v = results.get(key);
  if (!v)
    throw new Error(
      `${label} did not print ${key}=…; it printed:\n${[...results].map(([k, x]) => `${k}=${x}`).join("\n")}`,
    );
  return v;
}

function run(s: BuildScript, options: BuildScriptOptions): Promise<Map<string, string>> {
  return new Promise((resolve, reject) => {
    const args = [s.script];
    if (options.force) args.push("--force");
    const child = spawn("bash", args, {
      cwd: s.cwd,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...(s.env ?? {}) },
    });
    let out = "";
    let err = "";
    let partial = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      out += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      err += d;
      if (err.length > 200_000) err = err.slice(-100_000);
      if (options.log) {
        partial += d;
        const lines = partial.split("\n");
        partial = lines.pop() ?? "";
        for (const l of lines) options.log(l);
      }
    });
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0) {
        reject(new Error(`${s.label} exited with ${code}:\n${err.slice(-4000)}`));
        return;
      }
      const kv = new Map<string, string>();
      for (const line of out.split("\n")) {
        const m = /^([a-z_]+)=(.+)$/.exec(line.trim());
        if (m?.[1] && m[2]) kv.set(m[1], m[2]);
      }
      resolve(kv);
    });
  });
}
