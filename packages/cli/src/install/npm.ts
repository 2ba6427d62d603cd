/**
 * Running the user's own npm for plugin installs. npm runs with its working directory in the
 * project plugin folder; the project's `.npmrc` (the one npm would read from the build file's
 * folder) is linked into it, so registries, scopes and auth configured for the project apply.
 */
import { spawn } from "node:child_process";
import { KilnError } from "@kiln/core";

export interface NpmResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** npm flags kiln always passes: no audit/fund noise; peers are not auto-installed (kiln pins @kiln/core itself). */
export const NPM_FLAGS = ["--no-audit", "--no-fund", "--no-update-notifier", "--legacy-peer-deps"];

/**
 * Flags for npm commands that install: the packages' lifecycle scripts (preinstall, install,
 * postinstall of every package in the tree) do not run unless the user allows them
 * (`--allow-scripts`); then npm's own configuration decides.
 */
export function installFlags(allowScripts = false): string[] {
  return allowScripts ? NPM_FLAGS : [...NPM_FLAGS, "--ignore-scripts"];
}

/** The npm command: $KILN_NPM (a command, or a path to npm-cli.js), else `npm` on PATH. */
function npmCommand(): { cmd: string; pre: string[]; shell: boolean } {
  const custom = process.env.KILN_NPM;
  if (custom && /\.[cm]?js$/.test(custom)) return { cmd: process.execPath, pre: [custom], shell: false };
  if (custom) return { cmd: custom, pre: [], shell: process.platform === "win32" };
  return { cmd: "npm", pre: [], shell: process.platform === "win32" };
}

let calls = 0;
/** How many times npm was started by this process (tests check that re-runs are no-ops). */
export function npmCalls(): number {
  return calls;
}

export function runNpm(args: string[], cwd: string): Promise<NpmResult> {
  const { cmd, pre, shell } = npmCommand();
  calls++;
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    // npx / npm run set these for the CLI's own npm process; they must not leak into the user's npm.
    for (const k of Object.keys(env)) {
      if (/^npm_(config_(prefix|global|local_prefix|userconfig_from_npx)|package_|lifecycle_)/i.test(k))
        delete env[k];
    }
    delete env.npm_config_prefix;
    delete env.NPM_CONFIG_PREFIX;
    const child = spawn(cmd, [...pre, ...args], { cwd, env, shell, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    child.on("error", (err) => {
      reject(
        new KilnError("KILN_NPM_MISSING", `could not run npm: ${err.message}`, {
          hint: "kiln installs plugins with your npm. Install Node.js with npm, or put npm on PATH (or set KILN_NPM).",
        }),
      );
    });
    child.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

/** The `npm error code XYZ` of a failed npm run. */
export function npmErrorCode(r: NpmResult): string | undefined {
  return /npm (?:ERR!|error) code (\S+)/.exec(r.stderr)?.[1];
}

function tail(text: string, lines = 12): string {
  return text
    .split("\n")
    .filter((l) => l.trim() && !/npm (?:error|ERR!) A complete log of this run/.test(l))
    .slice(-lines)
    .join("\n");
}

/** Turn a failed npm run into a KilnError that says what went wrong and what to do. */
export function npmFailure(
  what: string,
  r: NpmResult,
  lockedIntegrity: Map<string, string> = new Map(),
): KilnError {
  const code = npmErrorCode(r);
  const detail = tail(r.stderr || r.stdout);
  if (code === "EINTEGRITY") {
    const wanted = /wanted (sha\d+-[A-Za-z0-9+/=]+)/.exec(r.stderr)?.[1];
    const pkg = wanted
      ? [...lockedIntegrity].find(([, i]) => i.split(/\s+/).includes(wanted))?.[0]
      : undefined;
    return new KilnError(
      "KILN_PLUGIN_INTEGRITY",
      `${what}: the tarball${pkg ? ` of ${pkg}` : ""} that the registry sent does not match the integrity hash in kiln.lock — it changed since it was locked (tampered with, corrupted, or republished). Nothing was installed.\n${detail}`,
      {
        hint: "Check the registry (and any proxy or mirror in between). If the new content is trusted, remove the entry from kiln.lock and run `kiln init` again to lock the new hash.",
      },
    );
  }
  const hints: Record<string, string> = {
    E404: "The package does not exist on the registry npm uses here. Check its name, and the registry/scope settings in .npmrc.",
    ETARGET:
      "No published version matches the range. Check the version range in the build file's plugins: map.",
    E401: "The registry refused the credentials. Log in (npm login --registry …) or set the token in .npmrc.",
    E403: "The registry refused access. Check your token's permissions for this package or scope.",
    ENEEDAUTH: "The registry needs a login. Run npm login, or set the token in .npmrc.",
    ECONNREFUSED:
      "The registry could not be reached. Check the registry URL in .npmrc and your network or proxy.",
    ENOTFOUND: "The registry's host name did not resolve. Check the registry URL in .npmrc and your network.",
    ETIMEDOUT: "The registry did not answer in time. Check your network or proxy, then try again.",
    ECONNRESET: "The connection to the registry broke. Try again; check your network or proxy.",
  };
  return new KilnError(
    code === "E404" || code === "ETARGET" ? "KILN_PLUGIN_NOT_FOUND" : "KILN_PLUGIN_INSTALL",
    `${what} failed (npm exited with ${r.code}${code ? `, ${code}` : ""}):\n${detail}`,
    {
      hint:
        (code && hints[code]) ||
        "See npm's message above; run the same npm command yourself to see its full log.",
    },
  );
}
