/**
 * Plugin installation logic with a stand-in npm (no registry): which packages a file needs,
 * kiln.lock, the no-op re-run, restoring with integrity checks, refusals. The real npm and a real
 * registry are exercised by e2e-registry.test.ts.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { isKilnError, loadStructure } from "@kiln/core";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { ensurePlugins, installSpecs, removePackages, usedTypes } from "./index.js";

const fixtures = fileURLToPath(new URL("../../../core/test/fixtures/plugins/node_modules", import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), "plugin-install-"));
const npmLog = join(tmp, "npm.log");
process.env.KILN_NPM = fileURLToPath(new URL("./test-fake-npm.mjs", import.meta.url));
process.env.FAKE_NPM_SOURCE = fixtures;
process.env.FAKE_NPM_LOG = npmLog;
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
beforeEach(() => {
  writeFileSync(npmLog, "");
  delete process.env.FAKE_NPM_TAMPER;
});
const npmCalls = () =>
  readFileSync(npmLog, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as string[]).filter((a) => !a.startsWith("--")).join(" "));

let n = 0;
function project(yaml: string): string {
  const dir = join(tmp, `p${++n}`);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, "image.kiln.yaml");
  writeFileSync(file, yaml);
  return file;
}
const quiet = { log: () => {} };

const stepsFile = `kiln: 1
plugins:
  steps: "kiln-builder-steps@^1"
sources:
  a: { type: steps }
builds:
  - sources: [a]
    provisioners:
      - { type: record, text: hi }
`;

async function refusal(p: Promise<unknown>): Promise<{ code: string; message: string; text: string }> {
  try {
    await p;
  } catch (err) {
    if (!isKilnError(err)) throw err;
    const text = [
      err.message,
      err.hint ?? "",
      ...err.diagnostics.map((d) => `${d.message} ${d.hint ?? ""}`),
    ].join("\n");
    return { code: err.code, message: err.message, text };
  }
  throw new Error("expected a refusal");
}

describe("usedTypes", () => {
  it("finds every kind of component once, in file order", () => {
    const file = project(`kiln: 1
data:
  img: { type: osc-omi }
sources:
  a: { type: qemu }
  b: { type: qemu }
builds:
  - sources: [a, b]
    provisioners: [{ type: shell }, { type: shell-local }]
    error-cleanup-provisioner: { type: shell }
    post-processors:
      - { type: manifest }
      - [{ type: compress }, { type: checksum }]
`);
    const types = usedTypes(loadStructure(file).raw).map((t) => `${t.kind}:${t.type}`);
    expect(types).toEqual([
      "datasource:osc-omi",
      "builder:qemu",
      "provisioner:shell",
      "provisioner:shell-local",
      "post-processor:manifest",
      "post-processor:compress",
      "post-processor:checksum",
    ]);
  });
});

describe("ensurePlugins", () => {
  it("installs the plugins: map's package into .kiln/plugins, writes kiln.lock; a re-run runs no npm", async () => {
    const file = project(stepsFile);
    const dir = join(file, "..");
    const lines: string[] = [];
    const r = await ensurePlugins({ file, mode: "init", log: (l) => lines.push(l) });
    expect(npmCalls()).toEqual(["install kiln-builder-steps@^1"]);
    expect(lines.join("\n")).toContain("Installed kiln-builder-steps@1.0.0");
    expect(r.served.map((s) => `${s.kind}:${s.type}=${s.name}@${s.version}`)).toEqual([
      "builder:steps=kiln-builder-steps@1.0.0",
      "provisioner:record=kiln-builder-steps@1.0.0",
    ]);
    const lock = JSON.parse(readFileSync(join(dir, "kiln.lock"), "utf8"));
    expect(lock.kilnLockVersion).toBe(1);
    expect(lock.core).toMatch(/^\d+\.\d+\.\d+/);
    expect(lock.plugins["kiln-builder-steps"]).toMatchObject({
      range: "^1",
      version: "1.0.0",
      integrity: expect.stringMatching(/^sha512-/),
    });
    expect(lock.plugins["kiln-builder-steps"].provides).toEqual({
      builders: ["steps"],
      provisioners: ["record"],
      "post-processors": ["wrap"],
      datasources: ["echo"],
    });
    const folderPj = JSON.parse(readFileSync(join(dir, ".kiln/plugins/package.json"), "utf8"));
    expect(folderPj.dependencies["@kiln/core"]).toBe(lock.core);
    expect(readFileSync(join(dir, ".kiln/plugins/.gitignore"), "utf8")).toContain("*");

    writeFileSync(npmLog, "");
    const again = await ensurePlugins({ file, mode: "init", ...quiet });
    expect(again.npmRuns).toBe(0);
    expect(npmCalls()).toEqual([]);
    const build = await ensurePlugins({ file, mode: "build", ci: true, ...quiet });
    expect(build.npmRuns).toBe(0);
  });

  it("restores from kiln.lock with npm ci (allowed in CI), and a tampered tarball is refused clearly", async () => {
    const file = project(stepsFile);
    const dir = join(file, "..");
    await ensurePlugins({ file, mode: "init", ...quiet });
    rmSync(join(dir, ".kiln"), { recursive: true });
    writeFileSync(npmLog, "");
    const r = await ensurePlugins({ file, mode: "build", ci: true, ...quiet });
    expect(npmCalls()).toEqual(["ci"]);
    expect(r.installed).toEqual(["kiln-builder-steps@1.0.0"]);
    expect(existsSync(join(dir, ".kiln/plugins/node_modules/kiln-builder-steps/package.json"))).toBe(true);

    rmSync(join(dir, ".kiln"), { recursive: true });
    process.env.FAKE_NPM_TAMPER = "kiln-builder-steps";
    const e = await refusal(ensurePlugins({ file, mode: "build", ...quiet }));
    expect(e.code).toBe("KILN_PLUGIN_INTEGRITY");
    expect(e.message).toContain("the tarball of kiln-builder-steps@1.0.0");
    expect(e.message).toContain("does not match the integrity hash in kiln.lock");
    expect(e.text).toContain("run `kiln init` again");
  });

  it("--no-install and CI=true refuse to install what the lock lacks, naming the command", async () => {
    const file = project(stepsFile);
    for (const o of [{ noInstall: true }, { ci: true }]) {
      const e = await refusal(ensurePlugins({ file, mode: "build", ...o, ...quiet }));
      expect(e.code).toBe("KILN_PLUGINS_NOT_INSTALLED");
      expect(e.message).toContain("kiln-builder-steps@^1");
      expect(e.text).toMatch(/Run: npx @kiln\/cli init \S*image\.kiln\.yaml/);
    }
    expect(npmCalls()).toEqual([]);
  });

  it("finds a package by convention on the registry, and refuses (and removes) one that needs another core", async () => {
    const file = project(`kiln: 1
sources:
  a: { type: future }
builds:
  - sources: [a]
`);
    const dir = join(file, "..");
    const e = await refusal(ensurePlugins({ file, mode: "init", ...quiet }));
    expect(npmCalls()).toEqual([
      "view @kiln/builder-future version",
      "view kiln-builder-future version",
      "install kiln-builder-future",
      "uninstall kiln-builder-future",
    ]);
    expect(e.code).toBe("KILN_PLUGIN_INCOMPATIBLE");
    expect(e.message).toMatch(
      /kiln-builder-future@5\.0\.0 needs @kiln\/core \^5\.0\.0, but this kiln has @kiln\/core \d/,
    );
    expect(existsSync(join(dir, ".kiln/plugins/node_modules/kiln-builder-future"))).toBe(false);
    const lock = JSON.parse(readFileSync(join(dir, "kiln.lock"), "utf8"));
    expect(lock.plugins).toEqual({});
  });

  it("refuses a plugin built for another plugin API", async () => {
    const file = project(`kiln: 1
plugins: { old: kiln-builder-old }
sources:
  a: { type: old }
builds:
  - sources: [a]
`);
    const e = await refusal(ensurePlugins({ file, mode: "init", ...quiet }));
    expect(e.code).toBe("KILN_PLUGIN_INCOMPATIBLE");
    expect(e.message).toContain("kiln-builder-old@0.0.9 implements kiln plugin API 0");
  });

  it("init says clearly when no package provides a type", async () => {
    const file = project(`kiln: 1
sources:
  a: { type: nowhere }
builds:
  - sources: [a]
`);
    const e = await refusal(ensurePlugins({ file, mode: "init", ...quiet }));
    expect(e.code).toBe("KILN_PLUGIN_NOT_FOUND");
    expect(e.text).toContain("neither @kiln/builder-nowhere nor kiln-builder-nowhere exists on the registry");
    expect(e.text).toContain('plugins: { nowhere: "<package>@<range>" }');
  });

  it("plugins install/remove manage the folder and kiln.lock; a package that is no kiln plugin is refused", async () => {
    const dir = join(tmp, "manage");
    mkdirSync(dir);
    const lock = await installSpecs(dir, ["kiln-builder-steps@^1"], () => {});
    expect(Object.keys(lock?.plugins ?? {})).toEqual(["kiln-builder-steps"]);
    const e = await refusal(installSpecs(dir, ["kiln-builder-notaplugin"], () => {}));
    expect(e.code).toBe("KILN_PLUGIN_MALFORMED");
    expect(e.message).toContain("is not a kiln plugin");
    expect(existsSync(join(dir, ".kiln/plugins/node_modules/kiln-builder-notaplugin"))).toBe(false);
    const after = await removePackages(dir, ["kiln-builder-steps"], () => {});
    expect(after?.plugins).toEqual({});
    const gone = await refusal(removePackages(dir, ["kiln-builder-steps"], () => {}));
    expect(gone.code).toBe("KILN_PLUGIN_NOT_FOUND");
  });
});

describe("no stranger's code on a typo", () => {
  // A registry where the typo `shel-local` has a package under the naming convention, whose
  // postinstall script leaves a mark; kiln-builder-steps is there too.
  const registry = join(tmp, "stranger-registry");
  const marker = join(tmp, "postinstall-ran");
  const pkg = join(registry, "kiln-provisioner-shel-local");
  mkdirSync(pkg, { recursive: true });
  cpSync(join(fixtures, "kiln-builder-steps"), join(registry, "kiln-builder-steps"), { recursive: true });
  writeFileSync(
    join(pkg, "package.json"),
    JSON.stringify({
      name: "kiln-provisioner-shel-local",
      version: "6.6.6",
      type: "module",
      kiln: { api: "1", provisioners: ["shel-local"] },
      peerDependencies: { "@kiln/core": "^0.1.0" },
      scripts: { postinstall: 'touch "$STRANGER_MARKER"' },
    }),
  );
  writeFileSync(
    join(pkg, "schema.json"),
    JSON.stringify({ provisioners: { "shel-local": { type: "object", properties: {} } } }),
  );
  const typo = `kiln: 1
plugins:
  steps: "kiln-builder-steps@^1"
sources:
  a: { type: steps }
builds:
  - sources: [a]
    provisioners:
      - { type: shel-local }
`;
  const withRegistry = async <T>(fn: () => Promise<T>): Promise<T> => {
    const old = process.env.FAKE_NPM_SOURCE;
    process.env.FAKE_NPM_SOURCE = registry;
    process.env.STRANGER_MARKER = marker;
    try {
      return await fn();
    } finally {
      process.env.FAKE_NPM_SOURCE = old;
    }
  };
  const installArgs = () =>
    readFileSync(npmLog, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as string[])
      .filter((a) => a[0] === "install" || a[0] === "ci");
  beforeEach(() => rmSync(marker, { force: true }));

  it("build refuses a type that neither plugins: nor the standard set names, asks no registry, suggests the fix", async () => {
    const file = project(typo);
    const first = await withRegistry(() => refusal(ensurePlugins({ file, mode: "build", ...quiet })));
    // the pinned package is installed (without its scripts); the typo is looked up nowhere
    expect(npmCalls()).toEqual(["install kiln-builder-steps@^1"]);
    expect(first.code).toBe("KILN_PLUGIN_NOT_PINNED");
    writeFileSync(npmLog, "");
    const e = await withRegistry(() => refusal(ensurePlugins({ file, mode: "build", ...quiet })));
    expect(npmCalls()).toEqual([]);
    expect(e.code).toBe("KILN_PLUGIN_NOT_PINNED");
    expect(e.text).toContain('no installed package provides the provisioner "shel-local"');
    expect(e.text).toContain("not @kiln/provisioner-shel-local or kiln-provisioner-shel-local");
    expect(e.text).toContain('Did you mean "shell-local"?');
    expect(e.text).toContain('plugins: { shel-local: "<package>@<range>" }');
    expect(e.text).toMatch(/run npx @kiln\/cli init \S*image\.kiln\.yaml/);
    expect(existsSync(join(file, "..", ".kiln/plugins/node_modules/kiln-provisioner-shel-local"))).toBe(
      false,
    );
    expect(existsSync(marker)).toBe(false);
  });

  it("init finds it by convention and says so before installing; install scripts run only when allowed", async () => {
    const file = project(typo);
    const lines: string[] = [];
    const r = await withRegistry(() => ensurePlugins({ file, mode: "init", log: (l) => lines.push(l) }));
    expect(r.served.map((s) => `${s.type}=${s.name}`)).toContain("shel-local=kiln-provisioner-shel-local");
    const said = lines.findIndex((l) =>
      l.includes(
        "The provisioner \"shel-local\" is neither in the build file's plugins: nor in kiln's standard set; by the naming convention the registry has kiln-provisioner-shel-local, which will be installed.",
      ),
    );
    const installed = lines.findIndex((l) => l.startsWith("Installing plugins for provisioner"));
    expect(said).toBeGreaterThanOrEqual(0);
    expect(said).toBeLessThan(installed);
    expect(installArgs().length).toBeGreaterThan(0);
    for (const args of installArgs()) expect(args).toContain("--ignore-scripts");
    expect(existsSync(marker)).toBe(false);

    const allowed = project(typo);
    writeFileSync(npmLog, "");
    await withRegistry(() => ensurePlugins({ file: allowed, mode: "init", allowScripts: true, ...quiet }));
    for (const args of installArgs()) expect(args).not.toContain("--ignore-scripts");
    expect(existsSync(marker)).toBe(true);
  });

  it("plugins install runs no install scripts unless allowed", async () => {
    const dir = join(tmp, "manage-scripts");
    mkdirSync(dir);
    await withRegistry(() => installSpecs(dir, ["kiln-provisioner-shel-local"], () => {}));
    expect(existsSync(marker)).toBe(false);
    await withRegistry(() =>
      installSpecs(dir, ["kiln-provisioner-shel-local"], () => {}, { allowScripts: true }),
    );
    expect(existsSync(marker)).toBe(true);
  });
});
