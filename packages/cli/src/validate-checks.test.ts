// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${{ … }}` in plain strings is what is tested.
/**
 * `kiln validate` runs every component's own checks (the plugin API's `check`) — boot-command
 * syntax, local files and folders, option relations — with their positions, and without side
 * effects: nothing is downloaded, started or written.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const bin = fileURLToPath(new URL("../bin.js", import.meta.url));
const repo = fileURLToPath(new URL("../../../", import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), "kiln-validate-checks-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
mkdirSync(join(scratch, "http"));
writeFileSync(join(scratch, "setup.sh"), "true\n");

let n = 0;
function validate(body: string, env: Record<string, string> = {}) {
  const f = join(scratch, `v${++n}.yaml`);
  writeFileSync(f, body);
  const r = spawnSync(process.execPath, [bin, "validate", f], {
    encoding: "utf8",
    cwd: repo,
    env: { ...process.env, NO_COLOR: "1", ...env },
    timeout: 30_000,
  });
  return { f, code: r.status, stderr: r.stderr, stdout: r.stdout };
}

const QEMU = (extra: string) =>
  `kiln: 1\nsources:\n  u:\n    type: qemu\n    iso_url: https://example.invalid/u.iso\n    iso_checksum: none\n    ssh_username: u\n${extra}builds:\n  - sources: [u]\n`;

describe("kiln validate runs the builders' and provisioners' checks", () => {
  it("a <waitXX> typo in boot_command, at its entry", () => {
    const r = validate(QEMU('    boot_command:\n      - "<esc>"\n      - "linux <wiat5> x<waitx><enter>"\n'));
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(
      /:10:25: error KILN_CONFIG sources\.u\.boot_command\[1\]: \[qemu\] .*invalid wait <waitx>/,
    );
  });

  it("missing local files and folders: http_directory, a script, the ISO", () => {
    const r = validate(
      `kiln: 1\nsources:\n  u:\n    type: qemu\n    iso_url: ./nope.iso\n    iso_checksum: none\n    http_directory: missing-dir\n    ssh_username: u\nbuilds:\n  - sources: [u]\n    provisioners:\n      - type: shell\n        scripts: [setup.sh, gone.sh]\n`,
    );
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`${r.f}:5:14: warning KILN_CONFIG sources.u.iso_url`);
    expect(r.stderr).toContain(`${r.f}:7:21: error KILN_CONFIG sources.u.http_directory`);
    expect(r.stderr).toMatch(
      /:13:\d+: error KILN_CONFIG builds\[0\]\.provisioners\[0\]\.scripts\[1\]: \[shell\] scripts\[1\]: "gone\.sh" does not exist/,
    );
    expect(r.stderr).toContain("2 problems found.");
    expect(r.stderr).not.toContain("scripts[0]");
  });

  it("option relations (use_backing_file without disk_image) and a proxmox-iso without a boot ISO", () => {
    const r = validate(QEMU("    use_backing_file: true\n"));
    expect(r.stderr).toMatch(
      /:8:23: error KILN_CONFIG sources\.u\.use_backing_file: \[qemu\] use_backing_file needs disk_image: true/,
    );
    const p = validate(
      "kiln: 1\nsources:\n  p:\n    type: proxmox-iso\n    proxmox_url: https://pve.invalid:8006/api2/json\n    username: root@pam\n    password: secret-pw\n    node: pve\n    disks: [{ type: scsi, storage_pool: local-lvm, disk_size: 10G }]\n    ssh_username: root\nbuilds:\n  - sources: [p]\n",
    );
    expect(p.code, p.stderr).toBe(2);
    expect(p.stderr).toMatch(/error KILN_CONFIG .*boot_iso: an ISO is required/);
    expect(p.stderr).not.toContain("secret-pw");
  });

  it("has no side effects: nothing downloaded, started or written", () => {
    const before = readdirSync(scratch).sort();
    const r = validate(
      QEMU(`    http_directory: http\n    output_directory: out\n    boot_command: ["<enter>"]\n`),
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("valid (1 source, 1 build, 1 run)");
    const after = readdirSync(scratch)
      .filter((f) => !/^v\d+\.yaml$/.test(f))
      .sort();
    expect(after).toEqual(before.filter((f) => !/^v\d+\.yaml$/.test(f)));
  });

  it("communicator: winrm and winrm_* options are a clear 'not supported yet' at their place", () => {
    const r = validate(QEMU("    communicator: winrm\n    winrm_username: Administrator\n"));
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(
      /:8:19: error KILN_CONFIG sources\.u\.communicator: \[qemu\] communicator: winrm is not supported yet/,
    );
    expect(r.stderr).toMatch(/:9:21: error KILN_CONFIG sources\.u\.winrm_username/);
  });
});
