/**
 * Publishing: every published workspace package (not private) has the fields npm and users need
 * and passes publint. The CLI must not depend on builder packages: `kiln init` installs only the
 * plugins a build file needs.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { publint } from "publint";
import { formatMessage } from "publint/utils";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const packages = readdirSync(join(ROOT, "packages"))
  .map((d) => join(ROOT, "packages", d))
  .filter((dir) => existsSync(join(dir, "package.json")))
  .map((dir) => ({ dir, pj: JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) }))
  .filter(({ pj }) => !pj.private);

describe("published packages", () => {
  it("there are some", () => {
    expect(packages.map((p) => p.pj.name)).toEqual(
      expect.arrayContaining([
        "@kiln/core",
        "@kiln/cli",
        "@kiln/sdk",
        "@kiln/builder-null",
        "@kiln/builder-qemu",
        "@kiln/builder-proxmox",
        "create-kiln-plugin",
      ]),
    );
  });

  for (const { dir, pj } of packages) {
    describe(pj.name, () => {
      it("has license, repository, engines, files, exports and publishConfig with provenance", () => {
        expect(pj.license).toBe("MIT");
        expect(pj.repository?.url).toMatch(/^git\+https:\/\/github\.com\//);
        expect(pj.repository?.directory).toBe(`packages/${dir.split("/").pop()}`);
        expect(pj.engines?.node).toMatch(/^>=20/);
        expect(Array.isArray(pj.files) && pj.files.length > 0).toBe(true);
        expect(pj.exports?.["."] ?? pj.bin).toBeTruthy();
        expect(pj.exports?.["./package.json"]).toBe("./package.json");
        expect(pj.publishConfig).toMatchObject({ access: "public", provenance: true });
        expect(pj.type).toBe("module");
        for (const deps of [pj.dependencies, pj.peerDependencies, pj.optionalDependencies]) {
          for (const [n, r] of Object.entries(deps ?? {}))
            expect(
              String(r),
              `${n}: a workspace: range must be turned into a version by pnpm publish`,
            ).not.toMatch(/^(file|link):/);
        }
      });

      if (pj.kiln) {
        it("is a plugin: kiln field, kiln-plugin keyword, @kiln/core as a peer, schema.json exported and shipped", () => {
          expect(pj.kiln.api).toBe("1");
          expect(pj.keywords).toContain("kiln-plugin");
          expect(pj.peerDependencies?.["@kiln/core"]).toMatch(/^\^/);
          expect(pj.dependencies?.["@kiln/core"]).toBeUndefined();
          expect(pj.exports["./schema.json"]).toBe("./schema.json");
          expect(pj.files).toContain("schema.json");
        });
      }

      it("passes publint", { timeout: 60_000 }, async () => {
        const { messages, pkg } = await publint({
          pkgDir: dir,
          pack: "pnpm",
          strict: true,
          level: "warning",
        });
        const text = messages.map((m) => `${m.type}: ${formatMessage(m, pkg)}`);
        expect(text).toEqual([]);
      });
    });
  }

  it("@kiln/cli has a bin and does not depend on any builder, provisioner or post-processor package", () => {
    const cli = packages.find((p) => p.pj.name === "@kiln/cli")?.pj;
    expect(cli.bin).toEqual({ kiln: "./bin.js" });
    const deps = Object.keys({ ...cli.dependencies, ...cli.optionalDependencies, ...cli.peerDependencies });
    expect(
      deps.filter((d) =>
        /^@kiln\/(builder-|provisioners|post-processors)|^kiln-(builder|provisioner|post-processor)-/.test(d),
      ),
    ).toEqual([]);
  });

  it("create-kiln-plugin has a bin so `npm create kiln-plugin` works", () => {
    const c = packages.find((p) => p.pj.name === "create-kiln-plugin")?.pj;
    expect(c.bin["create-kiln-plugin"]).toBe("./bin.js");
    expect(
      readFileSync(join(ROOT, "packages/create-kiln-plugin/bin.js"), "utf8").startsWith(
        "#!/usr/bin/env node",
      ),
    ).toBe(true);
  });

  it("the release workflow publishes with changesets", () => {
    const wf = readFileSync(join(ROOT, ".github/workflows/release.yml"), "utf8");
    expect(wf).toContain("changesets/action");
    expect(wf).toContain("changeset publish");
    expect(wf).toContain("id-token: write");
  });
});
