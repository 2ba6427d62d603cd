/**
 * End to end, as a user gets kiln: a real npm registry (Verdaccio on loopback, storage in a temp
 * folder, no uplinks) holding the workspace packages, an empty project whose .npmrc points at it,
 * `npx @kiln/cli init` and `build`. Checks that exactly the needed plugins are installed, that
 * kiln.lock holds their integrity, that a third-party builder made with create-kiln-plugin works,
 * and that a tampered tarball and an incompatible plugin are refused clearly.
 */
import { execFile, spawnSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  npmEnv,
  otherPlatformBuilds,
  packManifest,
  packThirdParty,
  packWorkspace,
  pool,
  publishedWorkspacePackages,
  publishTarball,
  putTarball,
  type Registry,
  ROOT,
  startRegistry,
  thirdPartyClosure,
} from "./install/test-registry.js";

const exec = promisify(execFile);
const tmp = mkdtempSync(join(tmpdir(), "e2e-registry-"));
let reg: Registry;
const tarballs: string[] = [];
let env: NodeJS.ProcessEnv;
const cliVersion = JSON.parse(readFileSync(join(ROOT, "packages/cli/package.json"), "utf8"))
  .version as string;

function project(name: string, buildFile: string, npmrc = "ignore-scripts=true\n"): string {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, ".npmrc"), `registry=${reg.url}\n${npmrc}`);
  writeFileSync(join(dir, "image.kiln.yaml"), buildFile);
  return dir;
}

async function kiln(dir: string, args: string[], extraEnv: Record<string, string> = {}) {
  try {
    const r = await exec("npx", ["--yes", `@kiln/cli@${cliVersion}`, ...args], {
      cwd: dir,
      env: { ...env, ...extraEnv },
      maxBuffer: 16 * 1024 * 1024,
      timeout: Number(process.env.KILN_E2E_CMD_TIMEOUT ?? 120_000),
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return {
      code: typeof err.code === "number" ? err.code : -1,
      stdout: err.stdout ?? "",
      stderr: err.stderr ?? "",
    };
  }
}

function installedPackages(dir: string): string[] {
  const nm = join(dir, ".kiln", "plugins", "node_modules");
  const out: string[] = [];
  for (const n of readdirSync(nm)) {
    if (n.startsWith(".")) continue;
    if (n.startsWith("@")) for (const m of readdirSync(join(nm, n))) out.push(`${n}/${m}`);
    else out.push(n);
  }
  return out;
}

const nullFile = `kiln: 1
sources:
  here:
    type: "null"
    communicator: none
builds:
  - name: e2e
    sources: [here]
    provisioners:
      - type: shell-local
        inline: ["echo provisioned-by-shell-local > provisioned.txt"]
`;

beforeAll(async () => {
  const t0 = Date.now();
  reg = await startRegistry(tmp);
  env = npmEnv(tmp);
  const dest = join(tmp, "tarballs");
  const ws = publishedWorkspacePackages();
  await pool(ws, 8, async (p) => {
    tarballs.push(await packWorkspace(p.dir, dest));
  });
  const t1 = Date.now();
  // Third-party dependencies of the published packages, taken from the workspace's node_modules.
  // They go in with the registry's publish API; the workspace packages with `npm publish`.
  const third = thirdPartyClosure(ws.map((p) => p.dir));
  await pool(third, 4, async (f) => {
    const { tgz, manifest } = await packThirdParty(f, dest);
    await putTarball(reg, tgz, manifest);
  });
  // Other platforms' builds of what has one per platform: manifests only, for complete locks.
  await pool(otherPlatformBuilds(third), 4, async ({ manifest }) => {
    await putTarball(reg, await packManifest(manifest, dest), manifest);
  });
  const t2 = Date.now();
  await pool([...tarballs], 4, (t) => publishTarball(reg, t, env));
  console.log(
    `registry ready with ${tarballs.length + third.length} packages in ${Date.now() - t0}ms (pnpm pack ${t1 - t0}ms, ${third.length} third-party ${t2 - t1}ms, npm publish ${Date.now() - t2}ms)`,
  );
}, 180_000);

afterAll(async () => {
  await reg?.stop();
  if (process.env.KILN_E2E_KEEP) console.log(`kept ${tmp}`);
  else rmSync(tmp, { recursive: true, force: true });
});

describe("kiln from a registry (Verdaccio)", () => {
  it("init installs exactly the needed plugins with a lock; build succeeds; re-running init is a no-op", {
    timeout: 60_000,
  }, async () => {
    const dir = project("null-build", nullFile);
    const init = await kiln(dir, ["init", "image.kiln.yaml"]);
    expect(init.stderr + init.stdout).toContain("@kiln/builder-null@");
    expect(init.code, init.stderr).toBe(0);
    const pkgs = installedPackages(dir);
    expect(pkgs).toContain("@kiln/builder-null");
    expect(pkgs).toContain("@kiln/core");
    // exactly the needed plugins: no other builder (qemu is on the registry too), no post-processors
    expect(pkgs.filter((p) => /^@kiln\/(builder|provisioners|post-processors)/.test(p)).sort()).toEqual([
      "@kiln/builder-null",
      "@kiln/provisioners",
    ]);
    const lock = JSON.parse(readFileSync(join(dir, "kiln.lock"), "utf8"));
    expect(Object.keys(lock.plugins)).toEqual(["@kiln/builder-null", "@kiln/provisioners"]);
    expect(lock.plugins["@kiln/provisioners"].integrity).toMatch(/^sha512-/);
    expect(lock.plugins["@kiln/builder-null"].integrity).toMatch(/^sha512-/);
    expect(lock.npm.packages["node_modules/@kiln/builder-null"].integrity).toBe(
      lock.plugins["@kiln/builder-null"].integrity,
    );

    const again = await kiln(dir, ["init", "image.kiln.yaml"]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain("up to date");
    expect(again.stderr).not.toContain("Installing");

    const build = await kiln(dir, ["build", "image.kiln.yaml"]);
    expect(build.code, build.stderr + build.stdout).toBe(0);
    expect(build.stderr).not.toContain("Installing");
    expect(readFileSync(join(dir, "provisioned.txt"), "utf8").trim()).toBe("provisioned-by-shell-local");
  });

  it("a packed @kiln/cli in an empty folder installs with no compiler on PATH; init installs the standard plugins and the editor schema; validate passes; shell-local gets a pseudo-terminal", {
    timeout: 120_000,
  }, async () => {
    // Only node and npm on PATH: no python3, make, cc or g++ for node-gyp to find.
    const bin = join(tmp, "no-compiler-bin");
    mkdirSync(bin, { recursive: true });
    const npmCli = join(dirname(process.execPath), "..", "lib", "node_modules", "npm", "bin");
    symlinkSync(process.execPath, join(bin, "node"));
    writeFileSync(
      join(bin, "npm"),
      `#!/bin/sh\nexec "${process.execPath}" "${join(npmCli, "npm-cli.js")}" "$@"\n`,
      {
        mode: 0o755,
      },
    );
    for (const tool of ["python3", "make", "cc", "gcc", "g++"]) {
      expect(spawnSync("sh", ["-c", `command -v ${tool}`], { env: { PATH: bin } }).status, tool).not.toBe(0);
    }
    const noCompiler = { ...env, PATH: bin };
    const dir = join(tmp, "packed-cli");
    mkdirSync(dir, { recursive: true });
    // Scripts allowed, as a plain `npm install` does: nothing in the CLI's tree may need a build.
    writeFileSync(join(dir, ".npmrc"), `registry=${reg.url}\n`);
    await exec("npm", ["install", "--no-audit", "--no-fund", `@kiln/cli@${cliVersion}`], {
      cwd: dir,
      env: noCompiler,
      maxBuffer: 16 * 1024 * 1024,
    });
    const cliDir = join(dir, "node_modules", "@kiln", "cli");
    for (const f of [
      "LICENSE",
      "README.md",
      "schema.json",
      "bundle/kiln.cjs",
      "bundle/THIRD-PARTY-LICENSES.txt",
    ])
      expect(existsSync(join(cliDir, f)), f).toBe(true);
    expect(JSON.parse(readFileSync(join(cliDir, "schema.json"), "utf8")).$id).toBe(
      "https://cdn.jsdelivr.net/npm/@kiln/cli@0/schema.json",
    );
    const body = `kiln: 1

sources:
  disk:
    type: qemu
    iso_url: https://example.invalid/debian.iso
    iso_checksum: none
    memory: \${{ 512 * 2 }}
    ssh_username: root
  here:
    type: "null"
    communicator: none

builds:
  - sources: [disk, here]
    provisioners:
      - type: shell-local
        only: [here]
        inline: ["[ -t 1 ] && echo on-a-terminal || echo not-a-terminal"]
      - type: shell
        except: [here]
        inline: ["true"]
      - type: file
        except: [here]
        content: hello
        destination: /tmp/hello
    post-processors:
      - type: manifest
      - type: checksum
        only: [disk]
        checksum_types: [sha256]
`;
    writeFileSync(join(dir, "image.kiln.yaml"), body);
    const kilnBin = join(dir, "node_modules", ".bin", "kiln");
    const run = async (args: string[]) => {
      try {
        const r = await exec(kilnBin, args, { cwd: dir, env: noCompiler, maxBuffer: 16 * 1024 * 1024 });
        return { code: 0, stdout: r.stdout, stderr: r.stderr };
      } catch (e) {
        const err = e as { code?: number; stdout?: string; stderr?: string };
        return { code: err.code ?? -1, stdout: err.stdout ?? "", stderr: err.stderr ?? "" };
      }
    };
    // Before init the plugins are not there, and the hint says what to run.
    const early = await run(["validate", "image.kiln.yaml"]);
    expect(early.code).toBe(2);
    expect(early.stderr).toContain("KILN_PLUGIN_NOT_FOUND");
    expect(early.stderr).toContain("Run `kiln init` to install the plugins this file uses");
    const init = await run(["init"]);
    expect(init.code, init.stderr + init.stdout).toBe(0);
    expect(init.stdout).toContain("Wrote .kiln/schema.json");
    const lock = JSON.parse(readFileSync(join(dir, "kiln.lock"), "utf8"));
    expect(Object.keys(lock.plugins).sort()).toEqual([
      "@kiln/builder-null",
      "@kiln/builder-qemu",
      "@kiln/post-processors",
      "@kiln/provisioners",
    ]);
    const schema = JSON.parse(readFileSync(join(dir, ".kiln", "schema.json"), "utf8"));
    expect(schema.definitions["builder:qemu"].properties.memory).toBeTruthy();
    expect(readFileSync(join(dir, "image.kiln.yaml"), "utf8")).toBe(
      `# yaml-language-server: $schema=.kiln/schema.json\n\n${body}`,
    );
    const validate = await run(["validate", "image.kiln.yaml"]);
    expect(validate.code, validate.stderr).toBe(0);
    expect(validate.stdout).toContain("image.kiln.yaml: valid (2 sources, 1 build, 2 runs)");
    expect((await run(["fmt", "--check", "image.kiln.yaml"])).code).toBe(0);
    // The prebuilt pseudo-terminal came with the plugins, though kiln installs them with scripts off.
    const build = await run(["build", "--only", "*.here", "image.kiln.yaml"]);
    expect(build.code, build.stderr + build.stdout).toBe(0);
    expect(build.stdout).toContain("on-a-terminal");
    expect(build.stdout + build.stderr).not.toContain("no pseudo-terminal");
  });

  it("inspect and plugins list show the package and version serving each type from .kiln/plugins", async () => {
    const dir = join(tmp, "null-build");
    const inspect = await kiln(dir, ["inspect", "image.kiln.yaml"]);
    expect(inspect.code, inspect.stderr).toBe(0);
    expect(inspect.stdout).toMatch(
      /builder\s+null\s+@kiln\/builder-null@0\.1\.0\s+\(standard: .*\.kiln\/plugins\/node_modules\/@kiln\/builder-null\)/,
    );
    const list = await kiln(dir, ["plugins", "list"]);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toContain("@kiln/builder-null@0.1.0");
    expect(list.stdout).toContain("builders: null");
  });

  it("under CI=true or --no-install, build refuses to install what kiln.lock lacks and names the command", async () => {
    const dir = project("ci-refusal", nullFile);
    const ci = await kiln(dir, ["build", "image.kiln.yaml"], { CI: "true" });
    expect(ci.code).toBe(2);
    expect(ci.stderr).toContain("KILN_PLUGINS_NOT_INSTALLED");
    expect(ci.stderr).toContain("@kiln/builder-null");
    expect(ci.stderr).toContain("Run: npx @kiln/cli init image.kiln.yaml");
    const no = await kiln(dir, ["build", "--no-install", "image.kiln.yaml"]);
    expect(no.code).toBe(2);
    expect(no.stderr).toContain("Run: npx @kiln/cli init image.kiln.yaml");
    expect(existsSync(join(dir, ".kiln", "plugins", "node_modules"))).toBe(false);
  });

  it("a tampered tarball is refused: npm ci fails the integrity check and kiln says so", {
    timeout: 60_000,
  }, async () => {
    const dir = join(tmp, "null-build");
    const stored = join(reg.storage, "@kiln", "builder-null", "builder-null-0.1.0.tgz");
    expect(existsSync(stored)).toBe(true);
    const other = tarballs.find((t) => t.includes("builder-qemu")) as string;
    copyFileSync(other, stored); // same name and version, different bytes
    rmSync(join(dir, ".kiln", "plugins"), { recursive: true, force: true });
    rmSync(join(tmp, "npm-cache", "_cacache"), { recursive: true, force: true });
    // npm retries a failed integrity check with a backoff of 10 s and more; the user's .npmrc can say not to.
    writeFileSync(join(dir, ".npmrc"), `${readFileSync(join(dir, ".npmrc"), "utf8")}fetch-retries=0\n`);
    const build = await kiln(dir, ["build", "image.kiln.yaml"]);
    expect(build.code, build.stdout).toBe(2);
    expect(build.stderr).toContain("KILN_PLUGIN_INTEGRITY");
    expect(build.stderr).toContain("@kiln/builder-null@0.1.0");
    expect(build.stderr).toContain("does not match the integrity hash in kiln.lock");
    expect(
      existsSync(join(dir, ".kiln", "plugins", "node_modules", "@kiln", "builder-null", "package.json")),
    ).toBe(false);
  });

  it("a third-party builder from create-kiln-plugin: published under its own name; build refuses it unpinned, init finds it by convention and installs it without running its scripts; an incompatible version is refused", {
    timeout: 90_000,
  }, async () => {
    // scaffold with `npm create kiln-plugin`, from the registry
    const work = join(tmp, "plugin-author");
    mkdirSync(work, { recursive: true });
    writeFileSync(join(work, ".npmrc"), `registry=${reg.url}\n`);
    await exec("npm", ["create", "--yes", "kiln-plugin@0.1.0", "kiln-builder-stamp"], { cwd: work, env });
    const pdir = join(work, "kiln-builder-stamp");
    // build it with the workspace's TypeScript and core (the registry has no uplinks)
    for (const [name, target] of Object.entries({
      "@kiln/core": join(ROOT, "packages/core"),
      "@kiln/sdk": join(ROOT, "packages/sdk"),
      "@types/node": join(ROOT, "node_modules/@types/node"),
    })) {
      mkdirSync(dirname(join(pdir, "node_modules", name)), { recursive: true });
      symlinkSync(target, join(pdir, "node_modules", name), "dir");
    }
    await exec(process.execPath, [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json"], {
      cwd: pdir,
    });
    await exec(process.execPath, [join(ROOT, "packages/core/scripts/plugin-schema.mjs")], { cwd: pdir });
    // an install script that would leave a mark where the project is installed
    const pj0File = join(pdir, "package.json");
    const pj0 = JSON.parse(readFileSync(pj0File, "utf8"));
    pj0.scripts = {
      ...pj0.scripts,
      postinstall: "node -e \"require('fs').writeFileSync('postinstall-ran','')\"",
    };
    writeFileSync(pj0File, JSON.stringify(pj0, null, 2));
    const publish = () =>
      exec(
        "npm",
        [
          "publish",
          "--ignore-scripts",
          "--userconfig",
          reg.publishRc,
          "--registry",
          reg.url,
          "--loglevel=error",
        ],
        { cwd: pdir, env },
      );
    await publish();

    // a project that uses `type: stamp` with no plugins: map — kiln-builder-stamp by convention
    const dir = project(
      "third-party",
      `kiln: 1
sources:
  one:
    type: stamp
    output_directory: out
    message: "stamped by a third-party builder"
builds:
  - sources: [one]
`,
      "", // no ignore-scripts in the project's .npmrc: kiln itself must turn them off
    );
    const refused = await kiln(dir, ["build", "image.kiln.yaml"]);
    expect(refused.code, refused.stderr + refused.stdout).toBe(2);
    expect(refused.stderr).toContain("KILN_PLUGIN_NOT_PINNED");
    expect(refused.stderr).toContain("not @kiln/builder-stamp or kiln-builder-stamp");
    expect(refused.stderr).not.toContain("Installing");
    expect(existsSync(join(dir, ".kiln", "plugins", "node_modules", "kiln-builder-stamp"))).toBe(false);
    const found = await kiln(dir, ["init", "image.kiln.yaml"]);
    expect(found.code, found.stderr + found.stdout).toBe(0);
    expect(found.stderr).toContain(
      "The builder \"stamp\" is neither in the build file's plugins: nor in kiln's standard set; by the naming convention the registry has kiln-builder-stamp, which will be installed.",
    );
    expect(found.stderr).toMatch(/Installing plugins for builder "stamp": kiln-builder-stamp/);
    expect(found.stderr).toContain("Installed kiln-builder-stamp@0.1.0");
    expect(
      existsSync(join(dir, ".kiln", "plugins", "node_modules", "kiln-builder-stamp", "postinstall-ran")),
    ).toBe(false);
    const build = await kiln(dir, ["build", "image.kiln.yaml"]);
    expect(build.code, build.stderr + build.stdout).toBe(0);
    expect(build.stderr).not.toContain("Installing");
    expect(readFileSync(join(dir, "out", "artifact.txt"), "utf8")).toBe("stamped by a third-party builder\n");
    const lock = JSON.parse(readFileSync(join(dir, "kiln.lock"), "utf8"));
    expect(Object.keys(lock.plugins)).toEqual(["kiln-builder-stamp"]);
    expect(lock.plugins["kiln-builder-stamp"].integrity).toMatch(/^sha512-/);
    expect(
      installedPackages(dir).filter((p) => /^@kiln\/(builder|provisioners|post-processors)/.test(p)),
    ).toEqual([]);

    // version 2.0.0 wants a @kiln/core this kiln does not have
    const pjFile = pj0File;
    const pj = JSON.parse(readFileSync(pjFile, "utf8"));
    writeFileSync(
      pjFile,
      JSON.stringify({ ...pj, version: "2.0.0", peerDependencies: { "@kiln/core": "^9.0.0" } }, null, 2),
    );
    await publish();
    const dir2 = project(
      "incompatible",
      `kiln: 1
plugins:
  stamp: "kiln-builder-stamp@^2"
sources:
  one:
    type: stamp
builds:
  - sources: [one]
`,
    );
    const init = await kiln(dir2, ["init", "image.kiln.yaml"]);
    expect(init.code).toBe(2);
    expect(init.stderr).toContain("KILN_PLUGIN_INCOMPATIBLE");
    expect(init.stderr).toContain(
      "kiln-builder-stamp@2.0.0 needs @kiln/core ^9.0.0, but this kiln has @kiln/core 0.1.0",
    );
    expect(existsSync(join(dir2, ".kiln", "plugins", "node_modules", "kiln-builder-stamp"))).toBe(false);
  });
});
