/**
 * `kiln schema --write` and `kiln init`: the editor schema beside a build file, composed with the
 * plugins found from there, and the file's modeline naming it — the file otherwise as written.
 */
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { STANDARD_PLUGINS } from "../standard.js";
import { EDITOR_SCHEMA_URL, PROJECT_SCHEMA } from "./url.js";

const PKG = fileURLToPath(new URL("../../", import.meta.url));
const bin = join(PKG, "bin.js");
// Inside the workspace, so the standard plugins resolve from its node_modules as in a project.
mkdirSync(join(PKG, "test"), { recursive: true });
const scratch = mkdtempSync(join(PKG, "test", "tmp-schema-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function kiln(args: string[], cwd: string) {
  const r = spawnSync(process.execPath, [bin, ...args], {
    encoding: "utf8",
    cwd,
    env: { ...process.env, NO_COLOR: "1", CI: "" },
    timeout: 30_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

let n = 0;
function project(body: string, name = "image.kiln.yaml"): { dir: string; file: string } {
  const dir = join(scratch, `p${++n}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, name), body);
  return { dir, file: join(dir, name) };
}

const BODY = `kiln: 1

sources:
  vm:
    type: qemu
    iso_url: x.iso

builds:
  - sources: [vm]
    provisioners:
      - type: shell
        inline: ["true"]
`;

type Json = { [k: string]: Json } & { enum?: string[]; description?: string };
const defs = (dir: string) =>
  JSON.parse(readFileSync(join(dir, PROJECT_SCHEMA), "utf8")).definitions as Record<string, Json>;

describe("kiln schema --write", () => {
  it("writes .kiln/schema.json with the file's plugins' options and adds the modeline; the file stays formatted", () => {
    const { dir, file } = project(BODY);
    expect(kiln(["fmt", "--check", file], dir).code).toBe(0);
    const r = kiln(["schema", "--write", file], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Wrote ${join(dir, PROJECT_SCHEMA).replace(`${dir}/`, "")}`);
    expect(r.stdout).toContain("Added `# yaml-language-server: $schema=.kiln/schema.json`");
    const d = defs(dir);
    expect(d["builder:qemu"].properties.iso_url.description).toMatch(/ISO/);
    expect(d["provisioner:shell"].properties.inline).toBeTruthy();
    expect(d.source.properties.type.enum).toEqual(expect.arrayContaining(["qemu", "null", "proxmox-iso"]));
    expect(readFileSync(file, "utf8")).toBe(`# yaml-language-server: $schema=${PROJECT_SCHEMA}\n\n${BODY}`);
    expect(kiln(["fmt", "--check", file], dir).code).toBe(0);
    expect(kiln(["validate", file], dir).code).toBe(0);
    // again: the same schema, the file untouched
    const before = readFileSync(join(dir, PROJECT_SCHEMA), "utf8");
    const again = kiln(["schema", "--write"], dir); // the only *.kiln.yaml here
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).not.toContain("Added");
    expect(readFileSync(join(dir, PROJECT_SCHEMA), "utf8")).toBe(before);
    expect(readFileSync(file, "utf8")).toBe(`# yaml-language-server: $schema=${PROJECT_SCHEMA}\n\n${BODY}`);
  });

  it("replaces a kiln modeline, keeps another schema's unless --force, and keeps the file's mode and symlink", () => {
    const old = project(`# yaml-language-server: $schema=${EDITOR_SCHEMA_URL}\n\n${BODY}`);
    chmodSync(old.file, 0o640);
    const link = join(old.dir, "link.kiln.yaml");
    symlinkSync(old.file, link);
    const r = kiln(["schema", "--write", link], old.dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`it named ${EDITOR_SCHEMA_URL}`);
    expect(readFileSync(old.file, "utf8")).toBe(
      `# yaml-language-server: $schema=${PROJECT_SCHEMA}\n\n${BODY}`,
    );
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(statSync(old.file).mode & 0o777).toBe(0o640);

    const ro = project(BODY);
    chmodSync(ro.file, 0o444);
    const left = kiln(["schema", "--write", ro.file], ro.dir);
    expect(left.code, left.stderr).toBe(0);
    expect(left.stdout).toContain("is read-only, so it was left as it is");
    expect(readFileSync(ro.file, "utf8")).toBe(BODY);
    expect(existsSync(join(ro.dir, PROJECT_SCHEMA))).toBe(true);

    const mine = "# yaml-language-server: $schema=https://example.test/mine.json\n";
    const foreign = project(`${mine}${BODY}`);
    const kept = kiln(["schema", "--write", foreign.file], foreign.dir);
    expect(kept.code, kept.stderr).toBe(0);
    expect(kept.stdout).toContain("names another schema (https://example.test/mine.json); left as is");
    expect(readFileSync(foreign.file, "utf8")).toBe(`${mine}${BODY}`);
    expect(kiln(["schema", "--write", "--force", foreign.file], foreign.dir).code).toBe(0);
    expect(readFileSync(foreign.file, "utf8")).toBe(
      `# yaml-language-server: $schema=${PROJECT_SCHEMA}\n${BODY}`,
    );
  });

  it("leaves out a type nothing serves, says so, and does not list it as known", () => {
    const { dir, file } = project(BODY.replace("type: shell", "type: shel"));
    const r = kiln(["schema", "--write", file], dir);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/kiln schema: .*shel.*\(its options are left out\)/);
    expect(defs(dir).provisioner.properties.type.enum).not.toContain("shel");
  });

  it("refuses a file that is not YAML, a .kiln that is not a folder, and a folder with no build file, without writing anything", () => {
    const { dir, file } = project("kiln: 1\nsources: [\n");
    const r = kiln(["schema", "--write", file], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/image\.kiln\.yaml:\d+:\d+: error KILN_YAML_SYNTAX/);
    expect(readFileSync(file, "utf8")).toBe("kiln: 1\nsources: [\n");
    expect(existsSync(join(dir, ".kiln"))).toBe(false);
    const blocked = project(BODY);
    writeFileSync(join(blocked.dir, ".kiln"), "a file, not a folder");
    const r2 = kiln(["schema", "--write", blocked.file], blocked.dir);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(
      /error KILN_SCHEMA_WRITE cannot write .*\.kiln\/schema\.json: (ENOTDIR|EEXIST)/,
    );
    expect(r2.stderr).not.toMatch(/at .*\.(c?js|ts):\d+/);
    expect(readFileSync(blocked.file, "utf8")).toBe(BODY);
    const empty = join(scratch, "empty");
    mkdirSync(empty);
    const none = kiln(["schema", "--write"], empty);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("no build file here; name it");
  });
});

describe("kiln init", () => {
  it("installs the plugins even when the schema cannot be written, and says so", () => {
    const { dir, file } = project(BODY);
    writeFileSync(join(dir, ".kiln"), "a file, not a folder");
    const r = kiln(["init", file], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("Plugins are up to date");
    expect(r.stderr).toMatch(
      /kiln init: warning: the editor schema was not written: cannot write .*schema\.json/,
    );
  });

  it("writes the editor schema too, once the plugins are in place", () => {
    const { dir, file } = project(BODY);
    const r = kiln(["init", file], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("Plugins are up to date");
    expect(r.stdout).toContain(`Wrote ${PROJECT_SCHEMA}`);
    expect(defs(dir)["builder:qemu"]).toBeTruthy();
    expect(readFileSync(file, "utf8").startsWith(`# yaml-language-server: $schema=${PROJECT_SCHEMA}\n`)).toBe(
      true,
    );
  });
});

describe("the shipped schema", () => {
  const pj = JSON.parse(readFileSync(join(PKG, "package.json"), "utf8"));
  it("is published at a URL of the package's major version", () => {
    expect(EDITOR_SCHEMA_URL).toBe(
      `https://cdn.jsdelivr.net/npm/@kiln/cli@${pj.version.split(".")[0]}/schema.json`,
    );
    expect(pj.files).toContain("schema.json");
    expect(pj.exports["./schema.json"]).toBe("./schema.json");
  });
  it("`kiln schema` with no file prints it with the standard set's options", () => {
    const r = kiln(["schema"], scratch);
    expect(r.code, r.stderr).toBe(0);
    const printed = JSON.parse(r.stdout);
    const shipped = JSON.parse(readFileSync(join(PKG, "schema.json"), "utf8"));
    expect(Object.keys(printed.definitions).sort()).toEqual(Object.keys(shipped.definitions).sort());
    expect(printed.definitions["post-processor:manifest"]).toEqual(
      shipped.definitions["post-processor:manifest"],
    );
  });
  it("holds the options of every standard package in this workspace (each a devDependency of the CLI)", () => {
    const shipped = JSON.parse(readFileSync(join(PKG, "schema.json"), "utf8"));
    const std = JSON.parse(readFileSync(join(PKG, "dist/standard-options.json"), "utf8")) as Array<{
      kind: string;
      type: string;
      package: string;
    }>;
    for (const o of std)
      expect(shipped.definitions[`${o.kind}:${o.type}`], `${o.kind} ${o.type}`).toBeTruthy();
    const workspace = new Set(
      readdirSync(join(PKG, ".."))
        .filter((d) => existsSync(join(PKG, "..", d, "package.json")))
        .map((d) => JSON.parse(readFileSync(join(PKG, "..", d, "package.json"), "utf8")).name as string),
    );
    const names = new Set(Object.values(STANDARD_PLUGINS).flatMap((types) => Object.values(types ?? {})));
    for (const name of names) {
      if (!workspace.has(name)) continue; // not in this workspace yet: known, without options
      expect(pj.devDependencies[name], `${name} must be a devDependency of @kiln/cli`).toBe("workspace:*");
      expect(
        std.some((o) => o.package === name),
        name,
      ).toBe(true);
    }
  });
});
