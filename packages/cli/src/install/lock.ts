/**
 * The project plugin folder and kiln.lock.
 *
 * - `<build file folder>/.kiln/plugins/` is a tiny npm project: package.json (the plugin packages
 *   with their ranges, plus @kiln/core pinned to the CLI's core), package-lock.json, node_modules.
 *   It is derived state (ignored by git through its own .gitignore).
 * - `<build file folder>/kiln.lock` is what you commit: a summary of each plugin package
 *   (range, exact version, integrity) and npm's whole package-lock of the folder, so the same
 *   tree — transitive dependencies included — is reinstalled with `npm ci`, which checks every
 *   tarball against its integrity hash.
 */
import {
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { KilnError } from "@kiln/core";

export const LOCK_NAME = "kiln.lock";
export const LOCK_VERSION = 1;

export interface LockedPlugin {
  /** The range the folder's package.json asks for (the plugins: map's, or ^version). */
  range: string;
  version: string;
  integrity?: string;
  resolved?: string;
  /** What the package declares in its package.json `kiln` field. */
  provides?: Record<string, string[]>;
}

export interface KilnLock {
  kilnLockVersion: number;
  /** The @kiln/core version the plugins were installed for. */
  core: string;
  plugins: Record<string, LockedPlugin>;
  /** npm's package-lock.json of the plugin folder. */
  npm: NpmLock;
}

export interface NpmLock {
  lockfileVersion?: number;
  packages?: Record<
    string,
    {
      version?: string;
      integrity?: string;
      resolved?: string;
      optional?: boolean;
      dependencies?: Record<string, string>;
      link?: boolean;
      dev?: boolean;
    }
  >;
  [k: string]: unknown;
}

export const pluginFolder = (projectDir: string) => join(projectDir, ".kiln", "plugins");
export const lockPath = (projectDir: string) => join(projectDir, LOCK_NAME);

export function readLock(projectDir: string): KilnLock | undefined {
  const file = lockPath(projectDir);
  if (!existsSync(file)) return undefined;
  let lock: KilnLock;
  try {
    lock = JSON.parse(readFileSync(file, "utf8"));
  } catch (cause) {
    throw new KilnError("KILN_LOCK_MALFORMED", `${file} is not valid JSON`, {
      cause,
      hint: "Restore it from version control, or delete it and run `kiln init` to write a new one.",
    });
  }
  if (
    lock?.kilnLockVersion !== LOCK_VERSION ||
    typeof lock.plugins !== "object" ||
    typeof lock.npm !== "object"
  ) {
    throw new KilnError(
      "KILN_LOCK_MALFORMED",
      `${file} is not a kiln.lock this kiln understands (kilnLockVersion ${String(lock?.kilnLockVersion)})`,
      {
        hint: "Delete it and run `kiln init` to write a new one.",
      },
    );
  }
  return lock;
}

export function writeLock(projectDir: string, lock: KilnLock): void {
  writeFileSync(lockPath(projectDir), `${JSON.stringify(lock, null, 2)}\n`);
}

export function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as T;
  } catch {
    return undefined;
  }
}

export interface FolderManifest {
  name: string;
  private: true;
  description: string;
  dependencies: Record<string, string>;
}

export function readFolderManifest(folder: string): FolderManifest {
  const m = readJson<FolderManifest>(join(folder, "package.json"));
  return {
    name: "kiln-project-plugins",
    private: true,
    description:
      "Plugins installed by kiln for the build files in this folder. Managed by kiln; commit kiln.lock, not this folder.",
    dependencies: {},
    ...(m ?? {}),
  };
}

export function writeFolderManifest(folder: string, m: FolderManifest): void {
  writeFileSync(join(folder, "package.json"), `${JSON.stringify(m, null, 2)}\n`);
}

/**
 * The folder whose `.npmrc` npm would read as project config when run in `projectDir`: the
 * nearest folder at or above it with a package.json or node_modules, else projectDir itself.
 */
export function projectNpmrc(projectDir: string): string | undefined {
  let dir = resolve(projectDir);
  let prefix: string | undefined;
  for (;;) {
    if (existsSync(join(dir, "package.json")) || existsSync(join(dir, "node_modules"))) {
      prefix = dir;
      break;
    }
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  const file = join(prefix ?? resolve(projectDir), ".npmrc");
  return existsSync(file) ? file : undefined;
}

/** Create the folder with its package.json, .gitignore, and a link to the project's .npmrc. */
export function prepareFolder(projectDir: string, core: string): string {
  const folder = pluginFolder(projectDir);
  mkdirSync(folder, { recursive: true });
  if (!existsSync(join(folder, ".gitignore")))
    writeFileSync(join(folder, ".gitignore"), "# installed by kiln from kiln.lock\n*\n");
  const m = readFolderManifest(folder);
  if (m.dependencies["@kiln/core"] !== core || !existsSync(join(folder, "package.json"))) {
    m.dependencies = { ...m.dependencies, "@kiln/core": core };
    writeFolderManifest(folder, m);
  }
  linkNpmrc(projectDir, folder);
  return folder;
}

function linkNpmrc(projectDir: string, folder: string): void {
  const target = projectNpmrc(projectDir);
  const link = join(folder, ".npmrc");
  let current: string | undefined;
  let exists = false;
  try {
    const st = lstatSync(link);
    exists = true;
    current = st.isSymbolicLink() ? resolve(folder, readlinkSync(link)) : undefined;
  } catch {
    // absent
  }
  if (target && current === target) return;
  if (exists) rmSync(link, { force: true });
  if (!target) return;
  try {
    symlinkSync(relative(folder, target), link);
  } catch {
    copyFileSync(target, link); // no symlinks (Windows without developer mode): a copy, refreshed each run
  }
}

/** Canonical JSON for comparing lock contents. */
export function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x) =>
    x && typeof x === "object" && !Array.isArray(x)
      ? Object.fromEntries(
          Object.keys(x)
            .sort()
            .map((k) => [k, (x as Record<string, unknown>)[k]]),
        )
      : x,
  );
}

/** Is the folder exactly what kiln.lock describes (so no npm run is needed)? */
export function folderMatchesLock(projectDir: string, lock: KilnLock): boolean {
  const folder = pluginFolder(projectDir);
  const npmLock = readJson<NpmLock>(join(folder, "package-lock.json"));
  if (!npmLock || canonical(npmLock) !== canonical(lock.npm)) return false;
  for (const [key, entry] of Object.entries(lock.npm.packages ?? {})) {
    if (!key.startsWith("node_modules/") || entry.optional || entry.dev) continue;
    const pj = readJson<{ version?: string }>(join(folder, key, "package.json"));
    if (!pj || (entry.version && !entry.link && pj.version !== entry.version)) return false;
  }
  return true;
}

/** The locked integrity hash of every package in the lock, by name@version (for EINTEGRITY messages). */
export function integrities(lock: KilnLock | NpmLock | undefined): Map<string, string> {
  const out = new Map<string, string>();
  const pkgs =
    (lock && "npm" in lock ? (lock as KilnLock).npm.packages : (lock as NpmLock | undefined)?.packages) ?? {};
  for (const [key, e] of Object.entries(pkgs)) {
    if (!key || !e.integrity) continue;
    const name = key.slice(key.lastIndexOf("node_modules/") + "node_modules/".length);
    out.set(`${name}@${e.version}`, e.integrity);
  }
  return out;
}
