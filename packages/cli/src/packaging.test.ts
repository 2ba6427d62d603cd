/**
 * What a user gets from npm and from the repository: a licence everywhere, a README per
 * published package, tarballs whose source maps point at files that are in them, examples in
 * `kiln fmt`'s form, and GitHub workflows GitHub's own parser accepts, running the README's test
 * command (CI) and publishing with changesets and provenance (release).
 */
import { execFile, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, normalize, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { parseYaml } from "@kiln/core";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const exec = promisify(execFile);
const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const workspace = ["packages", "testbed"].flatMap((top) =>
  readdirSync(join(ROOT, top))
    .map((d) => join(ROOT, top, d))
    .filter((dir) => existsSync(join(dir, "package.json"))),
);
const published = workspace
  .map((dir) => ({ dir, pj: JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) }))
  .filter(({ pj }) => !pj.private);

describe("licence", () => {
  const mit = readFileSync(join(ROOT, "LICENSE"), "utf8");
  it("the repository is MIT", () => {
    expect(mit.startsWith("MIT License\n")).toBe(true);
    expect(JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).license ?? "MIT").toBe("MIT");
  });
  it.each(workspace.map((d) => [relative(ROOT, d), d]))("%s has the same LICENSE", (_name, dir) => {
    expect(readFileSync(join(dir, "LICENSE"), "utf8")).toBe(mit);
  });
});

describe("published packages", () => {
  it.each(published.map(({ dir, pj }) => [pj.name as string, dir]))(
    "%s has a README about it",
    (name, dir) => {
      const readme = readFileSync(join(dir, "README.md"), "utf8");
      expect(readme.split("\n")[0]).toBe(`# ${name}`);
      expect(readme.length).toBeGreaterThan(400);
      expect(readme).toMatch(/^## License\n\nMIT$/m);
    },
  );

  // `npm pack --dry-run` lists exactly what would be published (the `files` field, README, LICENSE).
  it.each(published.map(({ dir, pj }) => [pj.name as string, dir]))(
    "%s: the tarball holds README and LICENSE, no tests, and every source map points at files in it",
    {
      timeout: 60_000,
    },
    async (_name, dir) => {
      const { stdout } = await exec("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], {
        cwd: dir,
        maxBuffer: 64 * 1024 * 1024,
      });
      const files = new Set<string>(
        (JSON.parse(stdout)[0].files as Array<{ path: string }>).map((f) => f.path),
      );
      expect(files.has("README.md")).toBe(true);
      expect(files.has("LICENSE")).toBe(true);
      // (create-kiln-plugin's template/ is the package it writes: its test is meant to be there)
      expect(
        [...files].filter((f) => !f.startsWith("template/") && /\.test\.ts$|(^|\/)test-[^/]*$/.test(f)),
      ).toEqual([]);
      const maps = [...files].filter((f) => f.endsWith(".map"));
      const dangling: string[] = [];
      for (const m of maps) {
        const map = JSON.parse(readFileSync(join(dir, m), "utf8")) as {
          sources: string[];
          sourceRoot?: string;
        };
        for (const s of map.sources) {
          const target = normalize(join(dirname(m), map.sourceRoot ?? "", s));
          if (!files.has(target)) dangling.push(`${m} → ${target}`);
        }
      }
      for (const f of [...files].filter((f) => f.endsWith(".js"))) {
        const ref = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(readFileSync(join(dir, f), "utf8"))?.[1];
        if (ref && !ref.startsWith("data:")) {
          const target = normalize(join(dirname(f), ref));
          if (!files.has(target)) dangling.push(`${f} → ${target}`);
        }
      }
      expect(dangling).toEqual([]);
    },
  );
});

describe("examples", () => {
  const yamls = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory()
        ? yamls(join(dir, e.name))
        : /\.ya?ml$/.test(e.name) && !e.name.startsWith("credentials.yaml")
          ? [join(dir, e.name)]
          : [],
    );
  it("are in kiln fmt's canonical form", () => {
    const files = yamls(join(ROOT, "examples"));
    expect(files.length).toBeGreaterThan(2);
    const r = spawnSync(process.execPath, [join(ROOT, "packages/cli/bin.js"), "fmt", "--check", ...files], {
      encoding: "utf8",
    });
    expect(r.stdout + r.stderr).toBe("");
    expect(r.status).toBe(0);
  });
});

// biome-ignore lint/suspicious/noExplicitAny: a workflow's shape is what the assertions check
type Workflow = Record<string, any>;

/**
 * GitHub's own workflow parser (what the Actions service and its language server use). It imports
 * its JSON schemas without an import attribute, which Node refuses: bundled first with esbuild.
 */
type Parser = typeof import("@actions/workflow-parser");
let parser: Parser;
const bundled = mkdtempSync(join(tmpdir(), "kiln-workflow-parser-"));
beforeAll(async () => {
  const outfile = join(bundled, "parser.mjs");
  await build({
    stdin: { contents: 'export * from "@actions/workflow-parser";', resolveDir: join(ROOT, "packages/cli") },
    bundle: true,
    format: "esm",
    platform: "node",
    outfile,
    logLevel: "error",
  });
  parser = (await import(pathToFileURL(outfile).href)) as Parser;
});
afterAll(() => rmSync(bundled, { recursive: true, force: true }));

describe("GitHub workflows", () => {
  const load = (name: string) => {
    const file = join(ROOT, ".github/workflows", name);
    return { value: parseYaml(readFileSync(file, "utf8"), file).value as Workflow };
  };

  it("the parser finds a broken workflow's mistakes", () => {
    const content = "on: push\njobs:\n  t:\n    runs-on: ubuntu-latest\n    stepz:\n      - run: x\n";
    const parsed = parser.parseWorkflow({ name: "bad.yml", content }, new parser.NoOperationTraceWriter());
    expect(
      parsed.context.errors
        .getErrors()
        .map((e) => e.message)
        .join("\n"),
    ).toMatch(/stepz/);
  });

  it("both parse as GitHub Actions workflows, without errors", async () => {
    for (const name of ["ci.yml", "release.yml"]) {
      const content = readFileSync(join(ROOT, ".github/workflows", name), "utf8");
      const trace = new parser.NoOperationTraceWriter();
      const parsed = parser.parseWorkflow({ name, content }, trace);
      expect(parsed.context.errors.getErrors(), name).toEqual([]);
      expect(parsed.value, name).toBeTruthy();
      const template = await parser.convertWorkflowTemplate(parsed.context, parsed.value as never);
      expect(template.errors ?? [], name).toEqual([]);
      expect(Object.keys(template.jobs ?? {}).length, name).toBeGreaterThan(0);
    }
  });

  it("CI runs the README's test command on pull requests, on Debian with Node, with CI=true", () => {
    const { value } = load("ci.yml");
    expect(Object.keys(value.on)).toEqual(expect.arrayContaining(["pull_request", "workflow_call"]));
    const job = value.jobs.test;
    expect(job.container.image).toMatch(/^node:\$\{\{ matrix\.node \}\}-bookworm$/);
    expect(job.strategy.matrix.node).toContain(20);
    expect(job.env.CI).toBe("true");
    const runs = (job.steps as Array<{ run?: string }>).map((s) => s.run).filter(Boolean);
    expect(runs).toEqual(["bash scripts/test.sh"]);
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    expect(readme).toMatch(
      /^bash scripts\/test\.sh {4}# installs what the tests need \(Debian packages too/m,
    );
    expect(readFileSync(join(ROOT, ".ci/run"), "utf8")).toContain("bash scripts/test.sh");
  });

  it("release tests first, then versions or publishes with changesets and npm provenance", () => {
    const { value } = load("release.yml");
    expect(value.jobs.test.uses).toBe("./.github/workflows/ci.yml");
    const rel = value.jobs.release;
    expect(rel.needs).toBe("test");
    expect(rel.permissions["id-token"]).toBe("write");
    const steps = rel.steps as Array<{
      uses?: string;
      run?: string;
      with?: Record<string, string>;
      env?: Record<string, string>;
    }>;
    expect(steps.map((s) => s.run).filter(Boolean)).toEqual(["pnpm install --frozen-lockfile", "pnpm build"]);
    const cs = steps.find((s) => s.uses?.startsWith("changesets/action@"));
    expect(cs?.with?.publish).toBe("pnpm changeset publish");
    expect(cs?.env?.NPM_CONFIG_PROVENANCE).toBe("true");
    for (const { pj } of published) expect(pj.publishConfig?.provenance, pj.name).toBe(true);
    const config = JSON.parse(readFileSync(join(ROOT, ".changeset/config.json"), "utf8"));
    expect(config.access).toBe("public");
  });
});
