/**
 * `kiln validate` reports what the standard provisioners and post-processors would only find
 * when they run (their prepare checks, expressed in their schema.json), with file:line:column.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const bin = fileURLToPath(new URL("../bin.js", import.meta.url));
const repo = fileURLToPath(new URL("../../../", import.meta.url));
// outside the fixtures (their node_modules hold test doubles of the standard packages)
const scratch = mkdtempSync(join(tmpdir(), "kiln-validate-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let n = 0;
/** A build file with `lines` (indented as list items under builds[0]) starting at line 9. */
function validate(section: "provisioners" | "post-processors", lines: string) {
  const f = join(scratch, `f${++n}.yaml`);
  writeFileSync(
    f,
    `kiln: 1\nsources:\n  a:\n    type: "null"\n    communicator: none\nbuilds:\n  - sources: [a]\n    ${section}:\n${lines}`,
  );
  const r = spawnSync(process.execPath, [bin, "validate", f], {
    encoding: "utf8",
    cwd: repo,
    env: { ...process.env, NO_COLOR: "1" },
    timeout: 20_000,
  });
  return { f, code: r.status, stderr: r.stderr };
}

describe("kiln validate checks what the components' prepare would", () => {
  const bad: Array<[string, "provisioners" | "post-processors", string, string, RegExp]> = [
    [
      "gzip level 22",
      "post-processors",
      "      - type: compress\n        output: x.gz\n        compression_level: 22\n",
      "11:28",
      /compression_level: a number \(22\) must be <= 9/,
    ],
    [
      "the default format (tar.gz) with level 10",
      "post-processors",
      "      - type: compress\n        compression_level: 10\n",
      "10:28",
      /must be <= 9/,
    ],
    [
      "zstd level 0",
      "post-processors",
      "      - type: compress\n        format: zstd\n        compression_level: 0\n",
      "11:28",
      /must be >= 1/,
    ],
    [
      "an output extension of no supported format",
      "post-processors",
      "      - type: compress\n        output: image.rar\n",
      "10:17",
      /output: a string \("image\.rar"\)[\s\S]*supported: \.tar\.gz/,
    ],
    [
      "an unknown field in compress' output",
      "post-processors",
      '      - type: compress\n        output: "{{.Nope}}.tar.gz"\n',
      "10:17",
      /output: a string/,
    ],
    [
      "an unknown field in checksum's output",
      "post-processors",
      '      - type: checksum\n        output: "{{.BuildNam}}.sum"\n',
      "10:17",
      /output: a string/,
    ],
    [
      "a template in manifest's output",
      "post-processors",
      '      - type: manifest\n        output: "{{.BuildName}}.json"\n',
      "10:17",
      /takes no \{\{\.Field\}\} templates/,
    ],
    [
      "shell-local with nothing to run",
      "provisioners",
      '      - type: shell-local\n        environment_vars: ["A=1"]\n',
      "9:9",
      /missing one of "command", "inline", "script", "scripts"/,
    ],
    [
      "shell-local with inline and script",
      "provisioners",
      '      - type: shell-local\n        inline: ["echo hi"]\n        script: x.sh\n',
      "11:9",
      /KILN_SCHEMA_CONFLICT .*script: "script" cannot be used together with "inline"/,
    ],
    [
      "the shell-local post-processor with command and inline",
      "post-processors",
      '      - type: shell-local\n        command: "true"\n        inline: ["true"]\n',
      "11:9",
      /"inline" cannot be used together with "command"/,
    ],
    [
      "shell with nothing to run",
      "provisioners",
      "      - type: shell\n        remote_folder: /tmp\n",
      "9:9",
      /missing one of "inline", "script", "scripts"/,
    ],
  ];
  for (const [what, section, lines, pos, message] of bad) {
    it(`refuses ${what} with its position, exit 2`, () => {
      const r = validate(section, lines);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain(`${r.f}:${pos}: error`);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toContain("1 problem found.");
    });
  }

  it("accepts the valid forms", () => {
    const r = validate(
      "post-processors",
      [
        "      - type: compress",
        "        output: x.tar.zst",
        "        compression_level: 22",
        "      - type: compress",
        "        output: x.GZ",
        "        compression_level: 9",
        "      - type: compress",
        "        output: x.tar",
        "      - type: compress",
        "        output: image.rar",
        "        format: tar.gz",
        "      - type: compress",
        "        compression_level: 5",
        "      - type: compress",
        '        output: "{{.BuildName}}-{{ .BuilderType }}.xz"',
        "      - type: checksum",
        '        output: "{{.BuildName}}_{{.ChecksumType}}.sum"',
        "      - type: manifest",
        '        output: "m-${{ build.BuildName }}.json"',
        "      - type: shell-local",
        '        inline: ["true"]',
        "",
      ].join("\n"),
    );
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    // the scripts must exist: validate checks what the provisioners would read
    writeFileSync(join(scratch, "a.sh"), "true\n");
    writeFileSync(join(scratch, "b.sh"), "true\n");
    const p = validate(
      "provisioners",
      '      - type: shell-local\n        script: a.sh\n        scripts: [b.sh]\n      - type: shell-local\n        command: "true"\n      - type: shell\n        inline: ["true"]\n',
    );
    expect(p.code, p.stderr).toBe(0);
  });
});
