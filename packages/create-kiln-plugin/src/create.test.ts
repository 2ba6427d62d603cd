/**
 * create-kiln-plugin: the scaffold builds (tsc + kiln-plugin-schema), its schema.json comes from
 * definePlugin, its example build file validates against it, and its own test — kiln's shared
 * conformance suite — passes.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
// @ts-expect-error plain JS with a .d.ts next to it
import { scaffold, typeFromName } from "../lib.js";

const exec = promisify(execFile);
const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), "ckp-test-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Give a scaffolded package the workspace's dev dependencies (no registry needed). */
export function linkDevDeps(dir: string): void {
  const links: Record<string, string> = {
    "@kiln/core": join(ROOT, "packages/core"),
    "@kiln/sdk": join(ROOT, "packages/sdk"),
    vitest: join(ROOT, "node_modules/vitest"),
    typescript: join(ROOT, "node_modules/typescript"),
    "@types/node": join(ROOT, "node_modules/@types/node"),
  };
  for (const [name, target] of Object.entries(links)) {
    const at = join(dir, "node_modules", name);
    mkdirSync(dirname(at), { recursive: true });
    if (!existsSync(at)) symlinkSync(target, at, "dir");
  }
}

export async function buildScaffold(dir: string): Promise<void> {
  await exec(process.execPath, [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json"], {
    cwd: dir,
  });
  await exec(process.execPath, [join(ROOT, "packages/core/scripts/plugin-schema.mjs")], { cwd: dir });
}

describe("create-kiln-plugin", () => {
  it("derives the type from the package name", () => {
    expect(typeFromName("kiln-builder-my-cloud")).toBe("my-cloud");
    expect(typeFromName("@acme/kiln-builder-vm")).toBe("vm");
    expect(typeFromName("@kiln/builder-qemu")).toBe("qemu");
  });

  it("refuses a non-empty folder and bad names", () => {
    expect(() => scaffold({ dir: ROOT })).toThrow(/not empty/);
    expect(() => scaffold({ dir: join(tmp, "x"), name: "Bad Name" })).toThrow(/not a valid npm package name/);
    expect(() => scaffold({ dir: join(tmp, "y"), type: "Bad_Type" })).toThrow(/not a valid builder type/);
  });

  it("writes every template file with its placeholders filled in, and ships the template", () => {
    const dir = join(tmp, "kiln-builder-filled");
    const r = scaffold({ dir, name: "@acme/kiln-builder-filled" });
    expect(r.files).toEqual(
      expect.arrayContaining([
        "package.json",
        "tsconfig.json",
        "src/index.ts",
        "src/builder.ts",
        "src/steps/write-artifact.ts",
        "src/conformance.test.ts",
        ".gitignore",
      ]),
    );
    expect(r.files[0]).toBe("package.json");
    for (const f of r.files) expect(readFileSync(join(dir, f), "utf8")).not.toMatch(/__[A-Z_]+__/);
    const pj = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
    expect(pj.name).toBe("@acme/kiln-builder-filled");
    expect(pj.dependencies["@kiln/sdk"]).toMatch(/^\^\d/);
    expect(readFileSync(join(dir, "src/index.ts"), "utf8")).toContain('type: "filled"');
    const self = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
    expect(self.files).toContain("template");
  });

  it("the bin scaffolds a package that builds, ships schema.json and passes the conformance suite", {
    timeout: 120_000,
  }, async () => {
    const dir = join(tmp, "kiln-builder-stamp");
    const r = await exec(process.execPath, [fileURLToPath(new URL("../bin.js", import.meta.url)), dir]);
    expect(r.stdout).toContain('Created kiln-builder-stamp (builder "stamp")');
    const pj = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
    expect(pj.kiln).toEqual({ api: "1", builders: ["stamp"] });
    expect(pj.keywords).toContain("kiln-plugin");
    expect(pj.peerDependencies["@kiln/core"]).toMatch(/^\^/);
    expect(pj.exports["./schema.json"]).toBe("./schema.json");
    linkDevDeps(dir);
    await buildScaffold(dir);
    const schema = JSON.parse(readFileSync(join(dir, "schema.json"), "utf8"));
    expect(schema.plugin).toBe("kiln-builder-stamp");
    expect(schema.builders.stamp.additionalProperties).toBe(false);
    // the example build file validates with the plugin found next to it
    const { loadBuildFile } = await import("@kiln/core");
    const links = join(tmp, "links");
    mkdirSync(join(links, "node_modules"), { recursive: true });
    symlinkSync(dir, join(links, "node_modules", "kiln-builder-stamp"), "dir");
    const loaded = loadBuildFile({ file: join(dir, "example.kiln.yaml"), resolver: { searchDirs: [links] } });
    expect(loaded.sources.example?.plugin?.pkg.name).toBe("kiln-builder-stamp");
    // its own test: the shared conformance suite
    const t = await exec(
      process.execPath,
      [join(ROOT, "node_modules/vitest/vitest.mjs"), "run", "--root", dir],
      {
        cwd: dir,
        env: { ...process.env, NO_COLOR: "1", CI: "1" },
      },
    ).catch((e: { stdout: string; stderr: string }) => {
      throw new Error(`the scaffold's tests failed:\n${e.stdout}\n${e.stderr}`);
    });
    expect(t.stdout).toMatch(/Tests\s+6 passed/);
  });
});
