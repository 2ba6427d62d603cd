// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${{ … }}` in plain strings is what is asserted.
/**
 * `kiln import` as a user runs it: the report, --check, never overwriting without --force, exit
 * codes, errors at file:line:col; and round trips: import → `kiln validate` → `kiln fmt --check`
 * → `kiln build` with the null builder and shell-local, for an HCL2 and a legacy JSON template.
 */
import { spawn, spawnSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const bin = fileURLToPath(new URL("../bin.js", import.meta.url));
const fixtures = fileURLToPath(new URL("../../import/test/fixtures/", import.meta.url));
// Inside the workspace, so the standard plugins resolve as in a project.
const scratch = mkdtempSync(join(fixtures, "tmp-cli-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let n = 0;

function kiln(args: string[], cwd: string, env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [bin, ...args], {
    cwd,
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1", ...env },
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A fresh folder holding copies of fixture files. */
function folder(...files: string[]): string {
  const dir = join(scratch, `t${++n}`);
  spawnSync("mkdir", ["-p", dir]);
  for (const f of files) copyFileSync(join(fixtures, f), join(dir, f.split("/").pop() as string));
  return dir;
}

describe("kiln import", () => {
  it("--check prints the report and writes nothing", () => {
    const dir = folder("roundtrip/null.pkr.hcl");
    const r = kiln(["import", "--check", "null.pkr.hcl"], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(
      'null.pkr.hcl:44:3: unsupported: provisioner "powershell": kiln has no provisioner "powershell"',
    );
    expect(r.stdout).toContain("not written (--check); it validates.");
    expect(readdirSync(dir)).toEqual(["null.pkr.hcl"]);
  });

  it("writes beside the template, never over an existing file without --force", () => {
    const dir = folder("roundtrip/null.pkr.hcl");
    expect(kiln(["import", "null.pkr.hcl"], dir).code).toBe(0);
    const out = join(dir, "null.kiln.yaml");
    const first = readFileSync(out, "utf8");
    writeFileSync(out, "# mine\n");
    const again = kiln(["import", "null.pkr.hcl"], dir);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/null\.kiln\.yaml exists; nothing written\n {2}hint: Pass --force/);
    expect(readFileSync(out, "utf8")).toBe("# mine\n");
    expect(kiln(["import", "--force", "null.pkr.hcl"], dir).code).toBe(0);
    expect(readFileSync(out, "utf8")).toBe(first);
    expect(readdirSync(dir).filter((f) => f.includes(".tmp"))).toEqual([]);
  });

  it("-o and --var-file: the variables file becomes YAML beside the output; an existing one is not overwritten either", () => {
    const dir = folder("json/legacy.json", "json/legacy-vars.json");
    const r = kiln(["import", "-o", "out/debian.yaml", "--var-file", "legacy-vars.json", "legacy.json"], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(dir, "out/legacy-vars.vars.yaml"), "utf8")).toContain('version: "11"');
    rmSync(join(dir, "out/debian.yaml"));
    const again = kiln(
      ["import", "-o", "out/debian.yaml", "--var-file", "legacy-vars.json", "legacy.json"],
      dir,
    );
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/legacy-vars\.vars\.yaml exists/);
    expect(existsSync(join(dir, "out/debian.yaml"))).toBe(false);
  });

  it("a syntax error: exit 2, file:line:col, no stack trace, nothing written", () => {
    const dir = folder();
    writeFileSync(join(dir, "bad.pkr.hcl"), 'source "qemu" "a" {\n  memory = \n}\n');
    const r = kiln(["import", "bad.pkr.hcl"], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^kiln import: bad\.pkr\.hcl:\d+:\d+: syntax error/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(readdirSync(dir)).toEqual(["bad.pkr.hcl"]);
  });

  it("a result that does not validate: exit 2, the problems with the output's lines", () => {
    const dir = folder();
    writeFileSync(
      join(dir, "t.pkr.hcl"),
      'source "qemu" "a" {\n  memory = "lots"\n}\nbuild {\n  sources = ["source.qemu.a"]\n}\n',
    );
    const r = kiln(["import", "--check", "t.pkr.hcl"], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/t\.kiln\.yaml:\d+:\d+: error KILN_SCHEMA_TYPE sources\.a\.memory/);
    expect(r.stderr).toContain("memory: lots");
    expect(r.stderr).toMatch(/it does not validate: \d+ problems? found/);
  });
});

describe("interrupted", () => {
  it("Ctrl-C while the result is checked: exit 1, no scratch folder, nothing written", async () => {
    const dir = folder();
    const tmp = join(dir, "tmp");
    spawnSync("mkdir", ["-p", tmp]);
    // Big enough that validation takes a while.
    const sources = Array.from(
      { length: 400 },
      (_, i) =>
        `source "qemu" "vm${i}" {\n  iso_url = "https://example.invalid/\${var.v}-${i}.iso"\n  iso_checksum = "none"\n  ssh_username = "u"\n}\n`,
    ).join("");
    const refs = Array.from({ length: 400 }, (_, i) => `"source.qemu.vm${i}"`).join(", ");
    writeFileSync(
      join(dir, "big.pkr.hcl"),
      `variable "v" {\n  default = "1"\n}\n${sources}build {\n  sources = [${refs}]\n}\n`,
    );
    writeFileSync(join(dir, "v.pkrvars.hcl"), 'v = "2"\n');
    const child = spawn(process.execPath, [bin, "import", "--var-file", "v.pkrvars.hcl", "big.pkr.hcl"], {
      cwd: dir,
      env: { ...process.env, NO_COLOR: "1", TMPDIR: tmp },
    });
    let stderr = "";
    child.stderr.on("data", (d) => {
      stderr += String(d);
    });
    // Signal once its scratch folder exists (validation has begun).
    for (let i = 0; i < 400 && readdirSync(tmp).length === 0; i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(readdirSync(tmp).length, `the scratch folder appears while it validates (${stderr})`).toBe(1);
    child.kill("SIGINT");
    const code = await new Promise<number | null>((r) => child.on("exit", r));
    expect(code).toBe(1);
    expect(stderr).toContain("kiln import: interrupted (SIGINT)");
    expect(readdirSync(tmp)).toEqual([]);
    expect(readdirSync(dir).sort()).toEqual(["big.pkr.hcl", "tmp", "v.pkrvars.hcl"]);
  });
});

describe("round trips: import → validate → fmt --check → build", () => {
  it("HCL2: two null sources, shell-local provisioners in order (only, override), a post-processor; secrets redacted", () => {
    const dir = folder("roundtrip/null.pkr.hcl");
    expect(kiln(["import", "null.pkr.hcl"], dir).code).toBe(0);
    const out = join(dir, "null.kiln.yaml");
    expect(kiln(["validate", out], dir).stdout).toContain("valid (2 sources, 1 build, 2 runs)");
    expect(kiln(["fmt", "--check", out], dir).code).toBe(0);
    const text = readFileSync(out, "utf8");
    expect(text).toContain(
      "      # Windows only: kept as a comment, in its place\n      # kiln import: kiln has no provisioner",
    );
    const b = kiln(["build", out], dir);
    expect(b.code, b.stderr + b.stdout).toBe(0);
    expect(b.stdout + b.stderr).not.toContain("rt-Secret-Token-4711");
    expect(readFileSync(join(dir, "out/first.txt"), "utf8")).toBe(
      "hello A-B-C\nonly-first\ntoken rt-Secret-Token-4711\npost null\n",
    );
    expect(readFileSync(join(dir, "out/second.txt"), "utf8")).toBe("hello A-B-C\noverridden\npost null\n");
  });

  it("legacy JSON: {{user}}, {{env}}, {{build_name}}, pipes, {{isotime}}; a post-processor", () => {
    const dir = folder("roundtrip/legacy-null.json");
    expect(kiln(["import", "legacy-null.json"], dir).code).toBe(0);
    const out = join(dir, "legacy-null.kiln.yaml");
    expect(kiln(["validate", out], dir).code).toBe(0);
    expect(kiln(["fmt", "--check", out], dir).code).toBe(0);
    const outDir = join(dir, "out");
    spawnSync("mkdir", ["-p", outDir]);
    const b = kiln(["build", out], dir, { RT_OUT: outDir });
    expect(b.code, b.stderr + b.stdout).toBe(0);
    const year = new Date().getUTCFullYear();
    expect(readFileSync(join(outDir, "legacy.txt"), "utf8")).toBe(
      `legacy box LEGACY\nyear-${year}\npp null\n`,
    );
    expect(statSync(out).isFile()).toBe(true);
  });
});
