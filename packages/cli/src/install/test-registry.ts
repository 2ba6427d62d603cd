/**
 * Test support: a real npm registry (Verdaccio) on loopback with its storage in a temp folder
 * and no uplinks, and publishing the workspace packages (pnpm pack + npm publish) plus the
 * third-party packages they depend on (taken from the workspace's node_modules) to it.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
export const ROOT = fileURLToPath(new URL("../../../../", import.meta.url));

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

export interface Registry {
  url: string;
  port: number;
  storage: string;
  /** An .npmrc that can publish (registry + token). */
  publishRc: string;
  token: string;
  stop(): Promise<void>;
}

export async function startRegistry(tmp: string): Promise<Registry> {
  const port = await freePort();
  const storage = join(tmp, "storage");
  mkdirSync(storage, { recursive: true });
  const config = join(tmp, "verdaccio.yaml");
  writeFileSync(
    config,
    `storage: ${JSON.stringify(storage)}
auth:
  htpasswd:
    file: ${JSON.stringify(join(tmp, "htpasswd"))}
    max_users: 100
uplinks: {}
max_body_size: 300mb
packages:
  "@*/*":
    access: $all
    publish: $authenticated
    unpublish: $authenticated
  "**":
    access: $all
    publish: $authenticated
    unpublish: $authenticated
log: { type: stdout, format: pretty, level: warn }
`,
  );
  // Verdaccio's API, not its bin: the bin refuses Node < 22, the server itself runs on Node 20.
  const script = `import { runServer } from "verdaccio";
const app = await runServer(process.env.KILN_TEST_VERDACCIO_CONFIG);
app.listen(Number(process.env.KILN_TEST_VERDACCIO_PORT), "127.0.0.1");`;
  const child: ChildProcess = spawn(process.execPath, ["--input-type=module", "-e", script], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, KILN_TEST_VERDACCIO_CONFIG: config, KILN_TEST_VERDACCIO_PORT: String(port) },
  });
  let log = "";
  child.stdout?.on("data", (d) => {
    log += d;
  });
  child.stderr?.on("data", (d) => {
    log += d;
  });
  const url = `http://127.0.0.1:${port}/`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`verdaccio exited (${child.exitCode}):\n${log}`);
    try {
      const r = await fetch(`${url}-/ping`);
      if (r.ok) break;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`verdaccio did not start:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const res = await fetch(`${url}-/user/org.couchdb.user:kiln`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      name: "kiln",
      password: "kiln-test-pw",
      email: "kiln@example.test",
      type: "user",
    }),
  });
  const token = ((await res.json()) as { token?: string }).token;
  if (!token) throw new Error(`could not create a registry user (${res.status})`);
  const publishRc = join(tmp, "publish.npmrc");
  writeFileSync(publishRc, `registry=${url}\n//127.0.0.1:${port}/:_authToken=${token}\n`);
  return {
    url,
    port,
    storage,
    publishRc,
    token,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 3000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** Environment for npm/npx in tests: a private cache and user config, nothing from the developer's ~/.npmrc. */
export function npmEnv(tmp: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const userrc = join(tmp, "user.npmrc");
  if (!existsSync(userrc)) writeFileSync(userrc, "update-notifier=false\nfund=false\naudit=false\n");
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!/^npm_|^NPM_CONFIG_|^pnpm_|^PNPM_/i.test(k)) env[k] = v;
  return {
    ...env,
    npm_config_userconfig: userrc,
    npm_config_cache: join(tmp, "npm-cache"),
    npm_config_update_notifier: "false",
    NO_COLOR: "1",
    CI: "",
    ...extra,
  };
}

export async function npm(
  args: string[],
  opts: { cwd: string; env: NodeJS.ProcessEnv },
): Promise<{ stdout: string; stderr: string }> {
  return run("npm", args, { cwd: opts.cwd, env: opts.env, maxBuffer: 32 * 1024 * 1024 });
}

/** Publish a tarball to the registry. */
export async function publishTarball(reg: Registry, tgz: string, env: NodeJS.ProcessEnv): Promise<void> {
  await npm(
    [
      "publish",
      tgz,
      "--userconfig",
      reg.publishRc,
      "--registry",
      reg.url,
      "--provenance=false",
      "--ignore-scripts",
      "--access",
      "public",
      "--loglevel=error",
    ],
    {
      cwd: dirname(tgz),
      env,
    },
  );
}

/** `pnpm pack` a workspace package (workspace: ranges become real ones). Returns the tarball. */
export async function packWorkspace(pkgDir: string, dest: string): Promise<string> {
  mkdirSync(dest, { recursive: true });
  const { stdout } = await run("pnpm", ["pack", "--pack-destination", dest], {
    cwd: pkgDir,
    env: { ...process.env, NO_COLOR: "1" },
  });
  const line = stdout
    .trim()
    .split("\n")
    .filter((l) => l.endsWith(".tgz"))
    .pop();
  if (!line) throw new Error(`pnpm pack printed no tarball: ${stdout}`);
  return line.startsWith("/") ? line : join(dest, line.trim());
}

interface Found {
  name: string;
  version: string;
  dir: string;
}

function findDep(fromReal: string, name: string): string | undefined {
  let dir = fromReal;
  for (;;) {
    if (!dir.endsWith("node_modules")) {
      const c = join(dir, "node_modules", name);
      if (existsSync(join(c, "package.json"))) return realpathSync(c);
    }
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** The third-party packages (name, version, folder) the given workspace packages depend on, transitively. */
export function thirdPartyClosure(pkgDirs: string[]): Found[] {
  const out = new Map<string, Found>();
  const visit = (dir: string) => {
    const pj = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
    const deps = { ...(pj.dependencies ?? {}), ...(pj.optionalDependencies ?? {}) };
    for (const name of Object.keys(deps)) {
      if (name.startsWith("@kiln/")) continue;
      const d = findDep(dir, name);
      if (!d) continue; // an optional dependency not installed here
      const v = JSON.parse(readFileSync(join(d, "package.json"), "utf8")).version as string;
      const key = `${name}@${v}`;
      if (out.has(key)) continue;
      out.set(key, { name, version: v, dir: d });
      visit(d);
    }
  };
  for (const d of pkgDirs) visit(realpathSync(d));
  return [...out.values()];
}

/**
 * The optional dependencies of `found` that are not installed here: the per-platform builds of a
 * package (`@lydell/node-pty-darwin-arm64` …) of which only this platform's is. The registry
 * needs their manifests so that npm can write a complete lock (`npm ci` refuses one without
 * them); their contents are never installed here, so each is a package.json with the `os` and
 * `cpu` its name says.
 */
export function otherPlatformBuilds(found: Found[]): Array<{ manifest: Record<string, unknown> }> {
  const out = new Map<string, { manifest: Record<string, unknown> }>();
  const installed = new Set(found.map((f) => `${f.name}@${f.version}`));
  for (const f of found) {
    const pj = JSON.parse(readFileSync(join(f.dir, "package.json"), "utf8"));
    for (const [name, spec] of Object.entries((pj.optionalDependencies ?? {}) as Record<string, string>)) {
      if (!/^\d+\.\d+\.\d+$/.test(spec) || installed.has(`${name}@${spec}`)) continue;
      const m = /-(darwin|linux|win32|freebsd)-(x64|arm64|arm|ia32)(?:-(gnu|musl))?$/.exec(name);
      if (!m) continue; // not a platform build: leave it to npm
      out.set(`${name}@${spec}`, {
        manifest: {
          name,
          version: spec,
          description: `${name} for the test registry (another platform's build; never installed here)`,
          os: [m[1]],
          cpu: [m[2]],
          ...(m[3] ? { libc: [m[3] === "gnu" ? "glibc" : "musl"] } : {}),
        },
      });
    }
  }
  return [...out.values()];
}

/** Tarball a manifest alone (a package with nothing but its package.json). */
export async function packManifest(manifest: Record<string, unknown>, dest: string): Promise<string> {
  const stage = join(dest, "stage", `${String(manifest.name).replace("/", "+")}@${manifest.version}`);
  mkdirSync(join(stage, "package"), { recursive: true });
  writeFileSync(join(stage, "package", "package.json"), JSON.stringify(manifest, null, 2));
  const tgz = join(
    dest,
    `${String(manifest.name).replace("/", "-").replace("@", "")}-${manifest.version}.tgz`,
  );
  await run("tar", ["-czf", tgz, "-C", stage, "package"]);
  return tgz;
}

/** Tarball a third-party package folder as it is on disk, without scripts or publishConfig (it must not go anywhere else). */
export async function packThirdParty(
  f: Found,
  dest: string,
): Promise<{ tgz: string; manifest: Record<string, unknown> }> {
  const stage = join(dest, "stage", `${f.name.replace("/", "+")}@${f.version}`);
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });
  const pkg = join(stage, "package");
  cpSync(f.dir, pkg, {
    recursive: true,
    dereference: true,
    filter: (s) => !s.slice(f.dir.length).includes("node_modules"),
  });
  const pj = JSON.parse(readFileSync(join(pkg, "package.json"), "utf8"));
  delete pj.scripts;
  delete pj.publishConfig;
  delete pj.devDependencies;
  writeFileSync(join(pkg, "package.json"), JSON.stringify(pj, null, 2));
  const tgz = join(dest, `${f.name.replace("/", "-").replace("@", "")}-${f.version}.tgz`);
  await run("tar", ["-czf", tgz, "-C", stage, "package"]);
  return { tgz, manifest: pj };
}

/** Run async jobs at most `n` at a time. */
export async function pool<T>(items: T[], n: number, fn: (t: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (i < items.length) await fn(items[i++] as T);
    }),
  );
}

/** The non-private workspace packages under packages/. */
export function publishedWorkspacePackages(): { name: string; dir: string; version: string }[] {
  const base = join(ROOT, "packages");
  return readdirSync(base)
    .map((d) => join(base, d))
    .filter((d) => existsSync(join(d, "package.json")))
    .map((dir) => ({ dir, pj: JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) }))
    .filter(({ pj }) => !pj.private)
    .map(({ dir, pj }) => ({ name: pj.name as string, dir, version: pj.version as string }));
}

/**
 * Publish a third-party tarball with the registry's publish API directly (what `npm publish`
 * sends), without starting an npm process for each of them.
 */
export async function putTarball(
  reg: Registry,
  tgz: string,
  manifest: Record<string, unknown>,
): Promise<void> {
  const data = readFileSync(tgz);
  const name = String(manifest.name);
  const version = String(manifest.version);
  const file = `${name}-${version}.tgz`;
  const dist = {
    shasum: createHash("sha1").update(data).digest("hex"),
    integrity: `sha512-${createHash("sha512").update(data).digest("base64")}`,
    tarball: `${reg.url}${name}/-/${name.split("/").pop()}-${version}.tgz`,
  };
  const body = {
    _id: name,
    name,
    ...(manifest.description ? { description: manifest.description } : {}),
    "dist-tags": { latest: version },
    versions: { [version]: { ...manifest, _id: `${name}@${version}`, dist } },
    access: null,
    _attachments: {
      [file]: {
        content_type: "application/octet-stream",
        data: data.toString("base64"),
        length: data.length,
      },
    },
  };
  const res = await fetch(`${reg.url}${name.replace("/", "%2f")}`, {
    method: "PUT",
    headers: { "content-type": "application/json", authorization: `Bearer ${reg.token}` },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`publishing ${name}@${version} failed: ${res.status} ${await res.text()}`);
}
