import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const bin = fileURLToPath(new URL("../bin.js", import.meta.url));
const repo = fileURLToPath(new URL("../../../", import.meta.url));
const example = join(repo, "examples/appliance.yaml");
const fixtures = join(repo, "packages/core/test/fixtures/plugins");

function kiln(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [bin, ...args], {
    encoding: "utf8",
    cwd: repo,
    env: { ...process.env, NO_COLOR: "1", ...env },
    timeout: 20_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const scratch = mkdtempSync(join(fixtures, "tmp-cli-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
function write(name: string, body: string): string {
  const f = join(scratch, name);
  writeFileSync(f, body);
  return f;
}

describe("kiln validate", () => {
  it("accepts the example and says what it holds", () => {
    const r = kiln(["validate", example]);
    // The example boots the testbed's appliance ISO: a warning only until that is built.
    expect(
      r.stderr.replace(/^.*warning KILN_CONFIG sources\.appliance\.iso_url[\s\S]*?hint: .*\n/m, "").trim(),
    ).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/valid \(1 source, 1 build, 1 run\)/);
  });
  it("reports every problem with file:line:column, path, code frame and hint, exit 2", () => {
    const f = write(
      "bad.yaml",
      "kiln: 1\nsources:\n  a:\n    type: demo\n    iso_url: x\n    memroy: 512\n    headless: yes-please\nbuilds:\n  - sources: [b]\n",
    );
    const r = kiln(["validate", f]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      `${f}:6:5: error KILN_SCHEMA_UNKNOWN_KEY sources.a.memroy: unknown demo option "memroy"`,
    );
    expect(r.stderr).toContain('hint: Did you mean "memory"?');
    expect(r.stderr).toContain(`${f}:7:15: error KILN_SCHEMA_TYPE sources.a.headless`);
    expect(r.stderr).toContain(`${f}:9:15: error KILN_REF_UNKNOWN_SOURCE`);
    expect(r.stderr).toMatch(/ 6 \| {5}memroy: 512\n +\| {5}\^/);
    expect(r.stderr).toContain("3 problems found.");
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/); // no stack trace
  });
  it("--syntax-only checks YAML and structure without plugins or variables", () => {
    const f = write("nosuchplugin.yaml", "kiln: 1\nsources:\n  a:\n    type: nosuch\n");
    expect(kiln(["validate", "--syntax-only", f]).code).toBe(0);
    const r = kiln(["validate", f]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("KILN_PLUGIN_NOT_FOUND");
    expect(r.stderr).toContain("kiln plugins install");
  });
  it("takes --var and --var-file", () => {
    const r = kiln(["validate", example, "--var", "accelerator=hvf"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("KILN_VAR_VALIDATION");
    expect(r.stderr).toContain("accelerator must be auto, kvm or tcg.");
    const vf = write("vars.yaml", "accelerator: kvm\n");
    expect(kiln(["validate", example, "--var-file", vf]).code).toBe(0);
  });
  it("a missing file, an unknown command and a bad flag are usage errors, exit 2", () => {
    const missing = kiln(["validate", join(scratch, "nope.yaml")]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("no such file");
    expect(kiln(["valdate", example]).stderr).toContain('did you mean "validate"');
    expect(kiln(["valdate", example]).code).toBe(2);
    const flag = kiln(["validate", "--frobnicate", example]);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain("Usage: kiln validate");
  });
});

describe("kiln inspect", () => {
  it("lists variables (sensitive masked), sources, builds and plugin packages", () => {
    const r = kiln(["inspect", example]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/root_password\s+string = <sensitive>/);
    expect(r.stdout).not.toContain("kiln-demo\n");
    expect(r.stdout).toMatch(/builder\s+qemu\s+@kiln\/builder-qemu@\d+\.\d+\.\d+ {2}\(standard: /);
    expect(r.stdout).toMatch(/provisioner\s+shell\s+@kiln\/provisioners@/);
    expect(r.stdout).toContain("runs: demo.qemu.appliance");
    expect(r.stdout).toContain("post-processors: manifest, checksum");
  });
  it("--json never carries a sensitive value, even inside locals", () => {
    const f = write(
      "secret.yaml",
      'kiln: 1\nvariables:\n  token: { type: string, sensitive: true, default: "tok-123456" }\nlocals:\n  header: "Bearer ${{ var.token }}"\n',
    );
    const r = kiln(["inspect", "--json", f]);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain("tok-123456");
    // Masked by the mark it carries (computed from a sensitive value), not by matching its text.
    expect(JSON.parse(r.stdout).locals.header).toBe("<sensitive>");
  });
  it("masks locals derived from a sensitive value however they are computed, and shows build-time values as written", () => {
    const key = "-----BEGIN KEY-----\\nAAAAline1secret\\nBBBBline2secret\\n-----END KEY-----";
    const f = write(
      "derived.yaml",
      `kiln: 1\nvariables:\n  pw: { type: string, sensitive: true, default: "hunter2-pass" }\n  key: { type: string, sensitive: true, default: "${key}" }\nlocals:\n  up: "\${{ upper(var.pw) }}"\n  b64: "\${{ base64encode(var.pw) }}"\n  quoted: '"\${{ var.pw }}\\'\n  pem: "\${{ var.key }}"\n  plain: "\${{ upper('ok') }}"\n  later: "id-\${{ build.ID }}"\n`,
    );
    for (const args of [
      ["inspect", f],
      ["inspect", "--json", f],
    ]) {
      const r = kiln(args);
      expect(r.code).toBe(0);
      for (const leak of [
        "hunter2",
        "HUNTER2",
        Buffer.from("hunter2-pass").toString("base64"),
        "line1secret",
        "line2secret",
      ])
        expect(r.stdout).not.toContain(leak);
      expect(r.stdout).toContain("OK");
      expect(r.stdout).toContain("id-${{ build.ID }}");
    }
    const json = JSON.parse(kiln(["inspect", "--json", f]).stdout);
    expect(json.locals).toMatchObject({
      up: "<sensitive>",
      b64: "<sensitive>",
      quoted: "<sensitive>",
      pem: "<sensitive>",
    });
    expect(kiln(["inspect", f]).stdout).toMatch(/ {2}up = <sensitive>\n/);
  });
});

describe("kiln fmt", () => {
  it("--check reports an unformatted file (exit 3) and --diff shows the change; fmt fixes it", () => {
    const f = write(
      "fmt.yaml",
      "# keep me\nsources:\n  a:\n    iso_url: x   # the iso\n    type: demo\nkiln: 1\n",
    );
    const check = kiln(["fmt", "--check", "--diff", f]);
    expect(check.code).toBe(3);
    expect(check.stdout).toContain("+kiln: 1");
    expect(readFileSync(f, "utf8")).toContain("kiln: 1\n"); // untouched
    expect(kiln(["fmt", f]).code).toBe(0);
    const after = readFileSync(f, "utf8");
    expect(after.indexOf("kiln: 1")).toBeLessThan(after.indexOf("sources:"));
    expect(after).toContain("# keep me");
    expect(after).toContain("# the iso");
    expect(after.indexOf("type: demo")).toBeLessThan(after.indexOf("iso_url"));
    expect(kiln(["fmt", "--check", f]).code).toBe(0);
  });
  it("refuses a file that is not valid YAML, exit 2", () => {
    const f = write("broken.yaml", "kiln: 1\nsources: [\n");
    const r = kiln(["fmt", f]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/broken\.yaml:\d+:\d+: error KILN_YAML_SYNTAX/);
  });
});

describe("kiln schema and version", () => {
  it("prints the base schema, or the one composed with a file's plugins", () => {
    const base = JSON.parse(kiln(["schema"]).stdout);
    expect(base.title).toBe("kiln build file");
    const composed = JSON.parse(kiln(["schema", example]).stdout);
    expect(composed.definitions["builder:qemu"].properties.iso_url).toBeTruthy();
    expect(composed.definitions["provisioner:shell"].properties.inline).toBeTruthy();
  });
  it("prints versions", () => {
    const r = kiln(["version"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^kiln \d+\.\d+\.\d+ \(@kiln\/core \d+\.\d+\.\d+, node /);
  });
});

describe("help", () => {
  it("kiln --help and kiln help list every command and the environment", () => {
    for (const args of [["--help"], ["help"]]) {
      const r = kiln(args);
      expect(r.code).toBe(0);
      for (const c of ["build", "validate", "inspect", "fmt", "init", "plugins", "schema", "version"])
        expect(r.stdout).toMatch(new RegExp(`^ {2}${c} +\\S`, "m"));
      expect(r.stdout).toContain("PKR_VAR_<name>");
      expect(r.stdout).toContain("KILN_LOG=1");
    }
  });
  it("kiln help build and kiln build --help: every flag on a line of its own, and examples", () => {
    const a = kiln(["help", "build"]);
    const b = kiln(["build", "--help"]);
    const c = kiln(["build", "-h"]);
    expect(a.code).toBe(0);
    expect(b.stdout).toBe(a.stdout);
    expect(c.stdout).toBe(a.stdout);
    const flags = a.stdout.split("\n").filter((l) => /^ {2}(-h, )?--/.test(l));
    const names = flags.map((l) => /--([a-z-]+)/.exec(l)?.[1]);
    expect(names).toEqual([
      "only",
      "except",
      "parallel-builds",
      "force",
      "on-error",
      "debug",
      "timestamp-ui",
      "json",
      "machine-readable",
      "var",
      "var-file",
      "no-install",
      "allow-scripts",
      "no-cache",
      "cache-dir",
      "no-color",
      "help",
    ]);
    for (const l of flags) expect(l).toMatch(/^ {2}\S.*\S {2,}\S/); // a flag, then what it does
    expect(a.stdout).toMatch(/^Usage: kiln build \[flags\] <file\|folder>$/m);
    expect(a.stdout).toMatch(/^Examples:\n {2}# .+\n {2}kiln build \.$/m);
  });
  it("every command has its help", () => {
    for (const c of ["validate", "inspect", "fmt", "init", "plugins", "schema", "version"]) {
      const r = kiln([c, "--help"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^kiln ${c} — .+\\n\\nUsage: kiln ${c}`));
      expect(r.stdout).toMatch(/^Examples?:$/m);
    }
  });
  it("a typo'd command or flag is answered with the likely one", () => {
    const r = kiln(["buidl", example]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('kiln: unknown command "buidl"; did you mean "build"?');
    expect(kiln(["help", "valdiate"]).stderr).toContain('did you mean "validate"?');
    const flag = kiln(["validate", "--syntaxonly", example]);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toBe(
      'kiln validate: unknown flag "--syntaxonly"; did you mean --syntax-only?\nUsage: kiln validate [flags] <file|folder>\nRun `kiln validate --help` for every flag.\n',
    );
    // never Node's own parser message
    expect(kiln(["validate", "-x", example]).stderr).not.toMatch(/ERR_PARSE_ARGS|To specify a positional/);
  });
});

describe("Packer habits", () => {
  it("single-dash flags work as their double-dash spelling, also before the command", () => {
    const r = kiln(["validate", "-var", "accelerator=hvf", example]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("accelerator must be auto, kvm or tcg.");
    expect(kiln(["validate", "-var=accelerator=kvm", example]).code).toBe(0);
    const vf = write("packer-vars.yaml", "accelerator: hvf\n");
    expect(kiln(["-var-file", vf, "validate", example]).stderr).toContain(
      "accelerator must be auto, kvm or tcg.",
    );
  });
  it("PKR_VAR_<name> sets a variable, KILN_VAR_<name> wins over it", () => {
    const r = kiln(["validate", example], { PKR_VAR_accelerator: "hvf" });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("accelerator must be auto, kvm or tcg.");
    expect(
      kiln(["validate", example], { PKR_VAR_accelerator: "hvf", KILN_VAR_accelerator: "kvm" }).code,
    ).toBe(0);
    expect(kiln(["inspect", example], { PKR_VAR_accelerator: "kvm" }).stdout).toMatch(
      /accelerator +string = "kvm" {2}\(PKR_VAR\)/,
    );
  });
});

describe("a folder as the build file", () => {
  const folder = (files: Record<string, string>) => {
    const dir = mkdtempSync(join(scratch, "dir-"));
    for (const [name, body] of Object.entries(files)) writeFileSync(join(dir, name), body);
    return dir;
  };
  const good = "kiln: 1\nsources:\n  a:\n    type: demo\n    iso_url: x\nbuilds:\n  - sources: [a]\n";
  it("means its kiln.yaml, else its only *.kiln.yaml", () => {
    const one = folder({ "kiln.yaml": good, "other.kiln.yaml": "kiln: [" });
    const r = kiln(["validate", one]);
    // (the fixture builder is a schema.json only: a warning says its own checks could not run)
    expect(r.stderr).not.toMatch(/: error /);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`${join(one, "kiln.yaml")}: valid`);
    const only = folder({ "image.kiln.yaml": good, "vars.yaml": "x: 1\n" });
    expect(kiln(["validate", only]).stdout).toContain(`${join(only, "image.kiln.yaml")}: valid`);
    expect(kiln(["inspect", only]).stdout).toContain("sources:\n  a  (demo)");
    expect(JSON.parse(kiln(["schema", only]).stdout).definitions["builder:demo"]).toBeTruthy();
  });
  it("without one, or with several, is a clear usage error (exit 2)", () => {
    const none = folder({ "vars.yaml": "x: 1\n" });
    for (const cmd of ["validate", "build", "inspect"]) {
      const r = kiln([cmd, none]);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(
        `kiln ${cmd}: ${none} is a folder without a build file: kiln looks there for kiln.yaml, or for a single *.kiln.yaml. It has vars.yaml: name the build file, or rename it to kiln.yaml.\n`,
      );
    }
    const two = folder({ "a.kiln.yaml": good, "b.kiln.yaml": good });
    const r = kiln(["validate", two]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`is a folder with 2 build files (a.kiln.yaml, b.kiln.yaml); name one`);
    expect(r.stderr).not.toMatch(/EISDIR|internal error/);
  });
});
