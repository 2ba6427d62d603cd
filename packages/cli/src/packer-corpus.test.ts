/**
 * Real Packer templates, translated by hand (test/fixtures/packer-corpus, see its README):
 * `kiln validate` accepts what Packer would, and refuses what it must at the place, with the hint.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const bin = fileURLToPath(new URL("../bin.js", import.meta.url));
const corpus = fileURLToPath(new URL("../test/fixtures/packer-corpus/", import.meta.url));

function validate(name: string) {
  const dir = join(corpus, name);
  const varFile = ["vars.json", "debian-12.pkrvars.yaml"].map((f) => join(dir, f)).find((f) => existsSync(f));
  const r = spawnSync(
    process.execPath,
    [bin, "validate", join(dir, "kiln.yaml"), ...(varFile ? ["--var-file", varFile] : [])],
    {
      encoding: "utf8",
      env: {
        ...process.env,
        NO_COLOR: "1",
        PROXMOX_URL: "",
        PROXMOX_USERNAME: "",
        PROXMOX_TOKEN: "",
        PROXMOX_PASSWORD: "",
      },
      timeout: 30_000,
    },
  );
  return { code: r.status, stderr: r.stderr, stdout: r.stdout };
}

describe("real Packer templates, translated", () => {
  for (const name of [
    "bento-qemu",
    "image-builder-qemu",
    "maas-cloudimg",
    "maas-flat",
    "pve-generic",
    "pve-jammy",
    "qemu-efi-debian",
    "qemu-ubuntu-floppy",
  ]) {
    it(`${name} validates`, () => {
      const r = validate(name);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/: valid \(/);
      expect(r.stderr).not.toMatch(/: error /);
      // a secret that is also a word of a path ("builder", "packer") never mangles the paths
      expect(r.stderr).not.toContain("<sensitive>");
    });
  }

  it("image-builder's var file sets variables the template does not declare: warnings, as Packer", () => {
    const r = validate("image-builder-qemu");
    expect(r.stderr.match(/warning KILN_VAR_UNDEFINED/g)).toHaveLength(2);
  });

  it("exoscale's removed iso_checksum_url/type: errors at the options with the iso_checksum rewrite", () => {
    const r = validate("exoscale-centos7");
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/kiln\.yaml:14:23: error KILN_CONFIG sources\.centos\.iso_checksum_url/);
    expect(r.stderr).toContain(
      'hint: Write iso_checksum: "file:https://cloud.centos.org/centos/7/images/sha256sum.txt".',
    );
    expect(r.stderr).toMatch(/kiln\.yaml:15:24: error KILN_CONFIG sources\.centos\.iso_checksum_type/);
  });

  it("Packer's {{ .HTTPIP }} left in a boot command: an error at the placeholder, with the kiln spelling", () => {
    const r = validate("pve-jammy-placeholder");
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/kiln\.yaml:42:48: error KILN_PACKER_TEMPLATE .*\{\{ \.HTTPIP \}\}/);
    expect(r.stderr).toContain("hint: Write ${{ http.ip }}.");
    expect(r.stderr).toContain("hint: Write ${{ http.port }}.");
    expect(r.stderr).toContain("2 problems found.");
  });
});
